import { AppError } from '../../shared/errors';
import type { MessageView } from './dto/messaging.dto';
import {
  failedReplayError,
  isQueueFull,
  notConfirmedError,
  queueFullError,
} from './publish-answers';

const id = '7d3c1a52-3f0e-4b8e-9a57-0c2b1f6e4d11';

describe('answers for a stored message that was not published', () => {
  it('a full queue is 429 QUEUE_FULL naming the stored message, relayed later, with Retry-After', () => {
    const error = queueFullError(id, 'orders');
    expect(error).toMatchObject({
      code: 'MESSAGING.QUEUE_FULL',
      status: 429,
      details: [{ message_id: id, status: 'queued', relayed_later: true }],
      headers: { 'Retry-After': '5' },
    });
    expect(isQueueFull(error)).toBe(true);
  });

  it.each([
    ['no cause (broker disconnected)', undefined],
    ['a broker timeout', new Error('publish timed out')],
    ['a 4xx raised after the commit', new AppError('COMMON.VALIDATION', 400, 'late refusal')],
    ['a thrown string', 'boom'],
  ])('anything else, %s, is 503 BROKER_UNAVAILABLE naming the message, never a 4xx', (_, cause) => {
    const error = notConfirmedError(id, cause);
    expect(error).toMatchObject({
      code: 'MESSAGING.BROKER_UNAVAILABLE',
      status: 503,
      details: [{ message_id: id, status: 'queued', relayed_later: true }],
      headers: { 'Retry-After': '5' },
    });
    expect(isQueueFull(error)).toBe(false);
  });

  it('keeps a full queue a 429 when it is the cause', () => {
    const full = queueFullError(id, 'orders');
    expect(notConfirmedError(id, full)).toBe(full);
  });
});

describe('a replayed Idempotency-Key whose message has failed', () => {
  it('is 409 MESSAGE_FAILED naming the message, its attempts and last error', () => {
    const message: MessageView = {
      id,
      tenant_id: '0b6f5b8e-2f7c-4a51-9d8e-4d1f2f6b7a10',
      queue_name: 'orders',
      payload: { n: 1 },
      status: 'failed',
      attempts: 3,
      last_error: 'webhook answered 500',
      idempotency_key: 'k-1',
      created_at: '2026-01-02T03:04:05.000Z',
      processed_at: null,
    };
    const error = failedReplayError(message);
    expect(error).toMatchObject({
      code: 'MESSAGING.MESSAGE_FAILED',
      status: 409,
      details: [
        { message_id: id, status: 'failed', attempts: 3, last_error: 'webhook answered 500' },
      ],
    });
    expect(error.message).toContain(`/api/v1/messages/${id}/retry`);
  });
});
