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
 * overflow (a full queue nacks the publish: 429 for that tenant, no broker-wide alarm); one
 * delay queue per backoff step (a queue-level TTL, so every message in it has the same delay
 * and none waits behind a longer one), dead-lettering back into the work queue; and a DLQ.
 * The work queue dead-letters (a nack without requeue: poison, forged tenant) into the DLQ.
 */
export async function declareTenantQueue(
  channel: Channel,
  names: QueueNames,
  options: { maxLength: number; delaysMs: number[] },
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
  for (const [i, delay] of names.delays.entries()) {
    await channel.assertQueue(delay, {
      durable: true,
      arguments: {
        'x-message-ttl': options.delaysMs[i],
        'x-dead-letter-exchange': '',
        'x-dead-letter-routing-key': names.main,
      },
    });
  }
}

export async function deleteTenantQueue(channel: Channel, names: QueueNames): Promise<void> {
  for (const queue of [names.main, ...names.delays, names.dlq]) await channel.deleteQueue(queue);
}
