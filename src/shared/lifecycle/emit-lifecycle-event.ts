import type { Logger } from '@nestjs/common';
import type { EventEmitter2 } from '@nestjs/event-emitter';

/**
 * Emits a lifecycle event after the fact committed, without waiting for listeners: a listener that
 * throws (at once or later) is logged and never fails the producer.
 */
export function emitLifecycleEvent(
  emitter: EventEmitter2,
  logger: Logger,
  name: string,
  payload: object,
): void {
  try {
    emitter
      .emitAsync(name, payload)
      .catch((error: unknown) => logger.warn({ err: error }, `A ${name} listener failed`));
  } catch (error) {
    logger.warn({ err: error }, `A ${name} listener failed`);
  }
}
