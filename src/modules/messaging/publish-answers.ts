import { AppError } from '../../shared/errors';
import type { MessageView } from './dto/messaging.dto';
import { messagingError } from './messaging.errors';

/** The answer that a stored message waits in the outbox because its queue is full (429). */
export function isQueueFull(error: unknown): error is AppError {
  return error instanceof AppError && error.code === 'MESSAGING.QUEUE_FULL';
}

/** A full queue refused a stored message: it waits in the outbox (429, relayed later). */
export function queueFullError(id: string, queueName: string): AppError {
  return messagingError(
    'MESSAGING.QUEUE_FULL',
    `Queue ${queueName} is full: the message is stored and will be published when the queue has room; slow down and retry later with the same Idempotency-Key`,
    [{ message_id: id, status: 'queued', relayed_later: true }],
  ).withHeaders({ 'Retry-After': '5' });
}

/**
 * The answer for a stored message that was not published: a full queue stays a 429, anything
 * else (broker down, timeout, any failure after the commit) is a 503; both name the message,
 * which the relay publishes later. Never a 4xx that would say nothing was stored.
 */
export function notConfirmedError(id: string, cause?: unknown): AppError {
  if (isQueueFull(cause)) return cause;
  return messagingError(
    'MESSAGING.BROKER_UNAVAILABLE',
    'The message broker did not confirm the message; it is stored and will be published when the broker is back',
    [{ message_id: id, status: 'queued', relayed_later: true }],
  ).withHeaders({ 'Retry-After': '5' });
}

/** The key's message has failed (attempts spent): nothing will process it unless retried. */
export function failedReplayError(message: MessageView): AppError {
  return messagingError(
    'MESSAGING.MESSAGE_FAILED',
    `The message of this Idempotency-Key (${message.id}) failed after ${message.attempts} attempt(s); POST /api/v1/messages/${message.id}/retry sends it again`,
    [
      {
        message_id: message.id,
        status: message.status,
        attempts: message.attempts,
        last_error: message.last_error,
      },
    ],
  );
}
