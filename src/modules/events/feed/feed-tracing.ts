import {
  contextOf,
  endSpan,
  SpanKind,
  startSpan,
  spanContextOf,
  TENANT_ATTRIBUTE,
  traceparentOf,
  tracingEnabled,
} from '../../../shared/telemetry';
import type { FeedMessage } from './events-bus';

type Span = NonNullable<ReturnType<typeof startSpan>>;

/**
 * The fan-out of one feed message (tracing on): an `events.fanout` span per trace its events
 * came from (several requests share one publication), and each event's traceparent as the
 * message carries it (`tp`, parallel to `events`), naming its trace's fan-out span.
 */
export function startFanout(
  tenantId: string,
  traceparents: ReadonlyArray<string | null | undefined> | undefined,
): { tp: Array<string | null>; end: (error?: unknown) => void } | undefined {
  if (!tracingEnabled() || !traceparents?.some(Boolean)) return undefined;
  const spans = new Map<string, Span>();
  const tp = traceparents.map((traceparent) => {
    if (!traceparent) return null;
    let span = spans.get(traceparent);
    if (!span) {
      span = startSpan('events.fanout', {
        kind: SpanKind.PRODUCER,
        parent: contextOf(traceparent),
        attributes: { [TENANT_ATTRIBUTE]: tenantId, 'messaging.system': 'redis' },
      });
      if (!span) return null;
      spans.set(traceparent, span);
    }
    return traceparentOf(span);
  });
  return {
    tp,
    end: (error) => {
      for (const span of spans.values()) endSpan(span, error);
    },
  };
}

/**
 * Pushes one feed message on this instance (`work`) inside an `events.push` span per trace its
 * events came from, each a child of that trace's fan-out span (on whichever instance it ran).
 */
export function inPushSpans(tenantId: string, message: FeedMessage, work: () => void): void {
  if (!tracingEnabled() || !message.tp?.some(Boolean)) return work();
  const spans = [...new Set(message.tp.filter((tp): tp is string => Boolean(tp)))].map((tp) =>
    startSpan('events.push', {
      kind: SpanKind.CONSUMER,
      parent: contextOf(tp),
      attributes: {
        [TENANT_ATTRIBUTE]: tenantId,
        'messaging.system': 'redis',
        'messaging.batch.message_count': message.events.length,
      },
    }),
  );
  try {
    work();
    for (const span of spans) endSpan(span);
  } catch (error) {
    for (const span of spans) endSpan(span, error);
    throw error;
  }
}

/**
 * The trace id of the `index`-th event of a feed message, for its WebSocket frame: only of a
 * sampled trace (an unsampled one is in no backend to look up).
 */
export function eventTraceId(message: FeedMessage, index: number): string | undefined {
  const span = message.tp ? spanContextOf(message.tp[index]) : undefined;
  return span && span.traceFlags & 1 ? span.traceId : undefined;
}
