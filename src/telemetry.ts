// Loaded first (the first import of main.ts): the OpenTelemetry instrumentations patch a module
// when it is loaded, so the SDK starts before the app loads anything it traces. Configured only
// by the OTEL_* variables (docs/observability.md); with tracing off the SDK is not even loaded.
import { telemetryRequested } from './shared/telemetry/telemetry-env';

if (telemetryRequested()) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { startTelemetry } = require('./shared/telemetry/start-telemetry') as {
    startTelemetry: () => boolean;
  };
  startTelemetry();
}
