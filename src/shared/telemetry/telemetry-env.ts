export function env(name: string): string | undefined {
  const value = process.env[name]?.trim();
  return value ? value : undefined;
}

export function envNumber(name: string): number | undefined {
  const value = Number(env(name));
  return Number.isFinite(value) && value >= 0 ? value : undefined;
}

/**
 * Whether the OTEL_* variables ask for traces: an OTLP endpoint is set, and neither
 * `OTEL_SDK_DISABLED=true` nor `OTEL_TRACES_EXPORTER=none` says otherwise.
 */
export function telemetryRequested(): boolean {
  if (env('OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return false;
  if (env('OTEL_TRACES_EXPORTER')?.toLowerCase() === 'none') return false;
  return Boolean(env('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') ?? env('OTEL_EXPORTER_OTLP_ENDPOINT'));
}
