import {
  type Attributes,
  type Context,
  context,
  isSpanContextValid,
  type Link,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  type SpanContext,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';

/** The W3C trace context header (and column) name. */
export const TRACEPARENT_HEADER = 'traceparent';
/** Every span carries the tenant of its unit of work under this attribute. */
export const TENANT_ATTRIBUTE = 'tenant.id';

let enabled = false;
let stop: (() => Promise<void>) | undefined;
let readTenant: () => string | undefined = () => undefined;

/** Set once the SDK started: until then (or with it off) every helper here is a no-op. */
export function markTracingEnabled(shutdown: () => Promise<void>): void {
  enabled = true;
  stop = shutdown;
}

/** Exports what is buffered and stops the SDK (at shutdown); a no-op when it never started. */
export async function shutdownTelemetry(): Promise<void> {
  const running = stop;
  stop = undefined;
  enabled = false;
  await running?.().catch(() => undefined);
}

/** The tenant context registers how to read the current tenant (it loads after the SDK). */
export function setTenantReader(reader: () => string | undefined): void {
  readTenant = reader;
}

/** The current unit of work's tenant, as the tenant context knows it. */
export function currentTenant(): string | undefined {
  return readTenant();
}

export function tracingEnabled(): boolean {
  return enabled;
}

const tracer = () => trace.getTracer('tessera');

/** The `traceparent` of the active span (or of `ctx`); undefined with tracing off. */
export function currentTraceparent(ctx: Context = context.active()): string | undefined {
  if (!enabled) return undefined;
  const span = trace.getSpanContext(ctx);
  if (!span || !isSpanContextValid(span)) return undefined;
  return `00-${span.traceId}-${span.spanId}-0${(span.traceFlags & 1).toString(16)}`;
}

/** A span's own `traceparent` (what a record or row it writes carries). */
export function traceparentOf(span: Span): string {
  const context = span.spanContext();
  return `00-${context.traceId}-${context.spanId}-0${(context.traceFlags & 1).toString(16)}`;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The remote span context a stored or received `traceparent` names (undefined if malformed). */
export function spanContextOf(traceparent: string | null | undefined): SpanContext | undefined {
  const match = traceparent ? TRACEPARENT.exec(traceparent.trim()) : null;
  if (!match) return undefined;
  const span: SpanContext = {
    traceId: match[1],
    spanId: match[2],
    traceFlags: parseInt(match[3], 16) & 1,
    isRemote: true,
  };
  return isSpanContextValid(span) ? span : undefined;
}

/** A context whose parent is the `traceparent` given (the root context when there is none). */
export function contextOf(traceparent: string | null | undefined): Context {
  const span = spanContextOf(traceparent);
  return span ? trace.setSpanContext(ROOT_CONTEXT, span) : ROOT_CONTEXT;
}

/** The trace id of a `traceparent` (what a WebSocket frame carries). */
export function traceIdOf(traceparent: string | null | undefined): string | undefined {
  return spanContextOf(traceparent)?.traceId;
}

/** A span link to a stored `traceparent` (empty when there is none). */
export function linksTo(traceparent: string | null | undefined): Link[] {
  const span = spanContextOf(traceparent);
  return span ? [{ context: span }] : [];
}

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** The parent: the active context by default; `ROOT_CONTEXT` for a new trace. */
  parent?: Context;
  links?: Link[];
}

/**
 * Starts a span (a no-op with tracing off). The caller ends it, through `endSpan`. Attributes
 * name things (ids, topics, counts), never payloads or secrets.
 */
export function startSpan(name: string, options: SpanOptions = {}): Span | undefined {
  if (!enabled) return undefined;
  return tracer().startSpan(
    name,
    {
      kind: options.kind ?? SpanKind.INTERNAL,
      attributes: options.attributes,
      links: options.links,
    },
    options.parent ?? context.active(),
  );
}

/** Ends a span, its status an error when `error` is given (its type only: messages may hold data). */
export function endSpan(span: Span | undefined, error?: unknown): void {
  if (!span) return;
  if (error !== undefined) markError(span, error);
  span.end();
}

export function markError(span: Span | undefined, error: unknown): void {
  if (!span) return;
  const e = error as { code?: unknown; name?: unknown } | undefined;
  const type =
    typeof e?.code === 'string' ? e.code : typeof e?.name === 'string' ? e.name : 'Error';
  span.setAttribute('error.type', type);
  span.setStatus({ code: SpanStatusCode.ERROR, message: type });
}

/** Runs `work` inside a new span (active for everything it calls); ends it when `work` settles. */
export async function inSpan<T>(
  name: string,
  options: SpanOptions,
  work: (span: Span | undefined) => Promise<T>,
): Promise<T> {
  const span = startSpan(name, options);
  if (!span) return work(undefined);
  try {
    const result = await context.with(trace.setSpan(options.parent ?? context.active(), span), () =>
      work(span),
    );
    endSpan(span);
    return result;
  } catch (error) {
    endSpan(span, error);
    throw error;
  }
}

export { SpanKind };
