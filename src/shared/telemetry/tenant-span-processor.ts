import type { Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace';
import { TENANT_ATTRIBUTE } from './trace-context';

/** Traces whose tenant this process knows, and spans held until it does: both bounded. */
const MAX_TRACES = 10_000;
const MAX_HELD_SPANS = 5_000;

/**
 * Puts `tenant.id` on every span, then hands it to `next` (the exporting processor). The
 * tenant is read from the tenant context (CLS) when the span starts, unless the span was started
 * with one (a worker that knows the tenant of its row before any context is open). A span that starts before
 * its unit of work knows the tenant (the HTTP server span, hooks and the session lookup ahead of
 * authentication) takes the tenant its trace learnt meanwhile: it is set while the span ends
 * when known by then, else the span is held (bounded) until a local root of its trace ends (the
 * HTTP server span ends after its whole request).
 */
export class TenantSpanProcessor implements SpanProcessor {
  private readonly tenants = new Map<string, string>();
  private readonly held = new Map<string, ReadableSpan[]>();
  private heldCount = 0;

  constructor(
    private readonly next: SpanProcessor,
    private readonly tenantOf: () => string | undefined,
  ) {}

  onStart(span: Span, parentContext: Context): void {
    const given = span.attributes[TENANT_ATTRIBUTE];
    const tenant = typeof given === 'string' ? given : this.tenantOf();
    if (tenant) {
      if (given === undefined) span.setAttribute(TENANT_ATTRIBUTE, tenant);
      this.remember(span.spanContext().traceId, tenant);
    }
    this.next.onStart(span, parentContext);
  }

  onEnding(span: Span): void {
    const traceId = span.spanContext().traceId;
    const own = span.attributes[TENANT_ATTRIBUTE];
    if (typeof own === 'string') this.remember(traceId, own);
    else {
      const known = this.tenants.get(traceId);
      if (known) span.setAttribute(TENANT_ATTRIBUTE, known);
    }
    this.next.onEnding?.(span);
  }

  onEnd(span: ReadableSpan): void {
    const traceId = span.spanContext().traceId;
    const root = !span.parentSpanContext || span.parentSpanContext.isRemote === true;
    if (span.attributes[TENANT_ATTRIBUTE] === undefined && !root && !this.tenants.has(traceId)) {
      this.hold(traceId, span);
      return;
    }
    this.next.onEnd(span);
    // A trace's tenant stays known (bounded, oldest forgotten first): a span that continues a
    // stored or received traceparent is a local root too, and its trace may go on here.
    if (root) this.release(traceId);
  }

  async forceFlush(): Promise<void> {
    for (const traceId of [...this.held.keys()]) this.release(traceId);
    await this.next.forceFlush();
  }

  async shutdown(): Promise<void> {
    for (const traceId of [...this.held.keys()]) this.release(traceId);
    await this.next.shutdown();
  }

  private remember(traceId: string, tenant: string): void {
    if (this.tenants.get(traceId) === tenant) return;
    this.tenants.delete(traceId);
    this.tenants.set(traceId, tenant);
    if (this.tenants.size > MAX_TRACES) this.tenants.delete(this.tenants.keys().next().value!);
  }

  private hold(traceId: string, span: ReadableSpan): void {
    let spans = this.held.get(traceId);
    if (!spans) this.held.set(traceId, (spans = []));
    spans.push(span);
    this.heldCount++;
    while (this.heldCount > MAX_HELD_SPANS) this.release(this.held.keys().next().value!);
  }

  /** Exports what was held for a trace, with its tenant when the trace learnt it. */
  private release(traceId: string): void {
    const spans = this.held.get(traceId);
    if (!spans) return;
    this.held.delete(traceId);
    this.heldCount -= spans.length;
    const tenant = this.tenants.get(traceId);
    for (const span of spans) {
      // Ended spans take no setAttribute; their attribute map is still the one exported.
      if (tenant) (span.attributes as Record<string, unknown>)[TENANT_ATTRIBUTE] = tenant;
      this.next.onEnd(span);
    }
  }
}
