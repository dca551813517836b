/** A message's outcome was stored as `processed`. */
export const MESSAGING_MESSAGE_PROCESSED = 'messaging.message.processed';
/** A message used its attempts and was dead-lettered (`failed`). */
export const MESSAGING_MESSAGE_FAILED = 'messaging.message.failed';
/** A queue's worker count changed (stored; every instance follows). */
export const MESSAGING_QUEUE_SCALED = 'messaging.queue.scaled';

export class MessageProcessedEvent {
  constructor(
    readonly tenantId: string,
    readonly messageId: string,
    readonly queueName: string,
    readonly attempts: number,
  ) {}
}

export class MessageFailedEvent {
  constructor(
    readonly tenantId: string,
    readonly messageId: string,
    readonly queueName: string,
    readonly attempts: number,
    readonly lastError: string,
  ) {}
}

export class QueueScaledEvent {
  constructor(
    readonly tenantId: string,
    readonly queueName: string,
    readonly workers: number,
  ) {}
}
