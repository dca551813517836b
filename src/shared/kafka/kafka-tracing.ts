import type { IHeaders } from 'kafkajs';
import {
  contextOf,
  traceparentOf,
  endSpan,
  inSpan,
  SpanKind,
  startSpan,
  TENANT_ATTRIBUTE,
  tracingEnabled,
  TRACEPARENT_HEADER,
} from '../telemetry';

export type ProducerSpan = NonNullable<ReturnType<typeof startSpan>>;

/**
 * A produce span in the current context (the request that produced, not the batch that sent),
 * its `traceparent` written into the record's headers; undefined with tracing off. A caller's
 * own `traceparent` header is replaced: the record continues this context.
 */
export function producerSpan(
  headers: IHeaders,
  tenantId: string | undefined,
): ProducerSpan | undefined {
  const span = startSpan('kafka.produce', {
    kind: SpanKind.PRODUCER,
    attributes: {
      'messaging.system': 'kafka',
      'messaging.operation.type': 'send',
      ...(tenantId ? { [TENANT_ATTRIBUTE]: tenantId } : {}),
    },
  });
  if (!span) return undefined;
  headers[TRACEPARENT_HEADER] = traceparentOf(span);
  return span;
}

/** Ends each message's produce span when the produce request settles (acks=all or failed). */
export async function settleProducerSpans<T>(
  topic: string,
  messages: ReadonlyArray<{ span?: ProducerSpan }>,
  send: Promise<T>,
): Promise<T> {
  // A batch sent again after a failure ends nothing twice (an ended span no longer records).
  const settle = (error?: unknown) => {
    for (const { span } of messages) {
      if (!span?.isRecording()) continue;
      span.updateName(`send ${topic}`);
      span.setAttribute('messaging.destination.name', topic);
      endSpan(span, error);
    }
  };
  try {
    const result = await send;
    settle();
    return result;
  } catch (error) {
    settle(error);
    throw error;
  }
}

interface Traced {
  topic: string;
  partition: number;
  offset: string;
  tenantId: string;
  headers: Record<string, string>;
}

function consumerAttributes(message: Traced, group: string) {
  return {
    'messaging.system': 'kafka',
    'messaging.operation.type': 'process',
    'messaging.destination.name': message.topic,
    'messaging.destination.partition.id': String(message.partition),
    'messaging.kafka.offset': Number(message.offset),
    'messaging.consumer.group.name': group,
    [TENANT_ATTRIBUTE]: message.tenantId,
  };
}

/** Handles one record in a span that continues the trace of its `traceparent` header. */
export function inConsumerSpan<R>(
  name: string,
  group: string,
  message: Traced,
  work: () => Promise<R>,
): Promise<R> {
  return inSpan(
    name,
    {
      kind: SpanKind.CONSUMER,
      parent: contextOf(message.headers[TRACEPARENT_HEADER]),
      attributes: consumerAttributes(message, group),
    },
    work,
  );
}

/**
 * Handles records of several traces at once: one span per record (each continuing its own
 * record's trace), ended when the batch settles, its status that record's outcome.
 */
export async function inBatchSpans<M extends Traced, R>(
  name: string,
  group: string,
  messages: readonly M[],
  work: () => Promise<R>,
  failedOf: (result: R) => ReadonlySet<M> = () => new Set(),
): Promise<R> {
  if (!tracingEnabled() || messages.length === 0) return work();
  const spans = messages.map((message) =>
    startSpan(name, {
      kind: SpanKind.CONSUMER,
      parent: contextOf(message.headers[TRACEPARENT_HEADER]),
      attributes: {
        ...consumerAttributes(message, group),
        'messaging.batch.message_count': messages.length,
      },
    }),
  );
  try {
    const result = await work();
    const failed = failedOf(result);
    messages.forEach((message, index) =>
      endSpan(spans[index], failed.has(message) ? new Error('handler failed') : undefined),
    );
    return result;
  } catch (error) {
    for (const span of spans) endSpan(span, error);
    throw error;
  }
}
