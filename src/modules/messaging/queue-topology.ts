import type { Channel } from 'amqplib';

export const QUEUE_NAME_PATTERN = /^[a-z0-9_-]{1,64}$/;
export const DEFAULT_QUEUE = 'default';

/** Broker names of one tenant queue: the work queue, one delay queue per backoff step, the DLQ. */
export interface QueueNames {
  main: string;
  delays: string[];
  dlq: string;
}

/** Delay queues are named by their delay: a changed backoff makes new queues, never a conflict. */
export function queueNames(tenantId: string, queue: string, delaysMs: number[]): QueueNames {
  const main = `tenant.${tenantId}.${queue}`;
  return {
    main,
    delays: delaysMs.map((ms) => `${main}.retry.${ms}ms`),
    dlq: `${main}.dlq`,
  };
}

/**
 * Declares a tenant queue: a durable quorum queue with a length limit and reject-publish
 * overflow (a full queue nacks the publish: 429 for that tenant, no broker-wide alarm), and its
 * DLQ (the work queue dead-letters into it: poison, forged tenant). The delay queues are declared
 * on first use (`declareDelayQueue`), so a tenant that never retries costs the broker two queues.
 */
export async function declareTenantQueue(
  channel: Channel,
  names: QueueNames,
  options: { maxLength: number },
): Promise<void> {
  await channel.assertQueue(names.dlq, { durable: true });
  await channel.assertQueue(names.main, {
    durable: true,
    arguments: {
      'x-queue-type': 'quorum',
      'x-max-length': options.maxLength,
      'x-overflow': 'reject-publish',
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': names.dlq,
    },
  });
}

/**
 * One backoff step: a queue-level TTL, so every message in it has the same delay and none waits
 * behind a longer one (no head-of-line blocking), dead-lettering back into the work queue.
 */
export async function declareDelayQueue(
  channel: Channel,
  names: QueueNames,
  step: number,
  delayMs: number,
): Promise<void> {
  await channel.assertQueue(names.delays[step], {
    durable: true,
    arguments: {
      'x-message-ttl': delayMs,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': names.main,
    },
  });
}

/** Every queue of a tenant queue (missing ones are skipped). */
export function allQueues(names: QueueNames): string[] {
  return [names.main, ...names.delays, names.dlq];
}
