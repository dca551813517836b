import type { Channel, Options } from 'amqplib';
import type { QueuePolicy } from '../../shared/rabbitmq';

export const QUEUE_NAME_PATTERN = /^[a-z0-9_-]{1,64}$/;
export const DEFAULT_QUEUE = 'default';

/** Broker names of one tenant queue: the work queue, one delay queue per backoff step, the DLQ. */
export interface QueueNames {
  main: string;
  delays: string[];
  /** Classic delay queues of earlier versions (`….retry.<ms>ms`): drained by their TTL, deleted with the tenant. */
  legacyDelays: string[];
  dlq: string;
}

/** Delay queues are named by their delay: a changed backoff makes new queues, never a conflict. */
export function queueNames(tenantId: string, queue: string, delaysMs: number[]): QueueNames {
  const main = `tenant.${tenantId}.${queue}`;
  return {
    main,
    delays: delaysMs.map((ms) => `${main}.delay.${ms}ms`),
    legacyDelays: delaysMs.map((ms) => `${main}.retry.${ms}ms`),
    dlq: `${main}.dlq`,
  };
}

/** Where a failed attempt goes (see `retryTarget`). */
export interface RetryTarget {
  /** The attempts are spent: the row is `failed` and the message goes to the DLQ. */
  final: boolean;
  /** The backoff step (an index into `delays`): the attempt's number, capped at the last step. */
  step: number;
  /** The queue the message is published to. */
  target: string;
}

/**
 * A failed attempt `attempts` (1 for the first) of at most `maxAttempts`: the delay queue of its
 * step (every attempt past the configured delays waits the longest), or the DLQ once the
 * attempts are spent.
 */
export function retryTarget(names: QueueNames, attempts: number, maxAttempts: number): RetryTarget {
  const final = attempts >= maxAttempts;
  const step = Math.min(attempts, names.delays.length) - 1;
  return { final, step, target: final ? names.dlq : names.delays[step] };
}

/** Runs work on a channel of its own (a failed declare closes that channel only). */
export type ChannelRunner = <R>(work: (channel: Channel) => Promise<R>) => Promise<R>;

/** How a queue was made ready: declared as this version declares it, or found with other arguments. */
export interface DeclareOutcome {
  /** Null when declared as wanted; else the broker's refusal (the queue is used as it is). */
  outdated: string | null;
}

/** The name of the policy that carries the work queues' limits, and what it matches. */
export const WORK_QUEUE_POLICY = 'tessera-messaging-work-queues';

/**
 * Limits an operator may change live are a policy, not queue arguments (arguments cannot change
 * without deleting the queue, and a declare with different ones is refused: 406). It matches
 * every tenant work queue (`tenant.<uuid>.<name>`, never a `.dlq` or a delay queue) at priority 0:
 * an operator gives one tenant other limits with a policy of higher priority for its queues
 * (the broker applies one policy per queue, so that one must carry every key). `reject-publish`
 * is part of the contract: a full queue refuses the publish (429), never drops an accepted
 * message, as `drop-head` would.
 */
export function workQueuePolicy(maxLength: number): QueuePolicy {
  return {
    pattern: '^tenant\\.[0-9a-f-]{36}\\.[a-z0-9_-]{1,64}$',
    definition: { 'max-length': maxLength, overflow: 'reject-publish' },
    priority: 0,
  };
}

/** What cannot change for a work queue: its type and where it dead-letters. */
export function workQueueArguments(names: QueueNames): Options.AssertQueue {
  return {
    durable: true,
    arguments: {
      'x-queue-type': 'quorum',
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': names.dlq,
    },
  };
}

/**
 * A delay queue (one backoff step): quorum, with a queue-level TTL (every message in it has the
 * same delay, none waits behind a longer one) dead-lettering into the work queue
 * **at-least-once**: while the work queue is full (it refuses publishes) the broker keeps the
 * expired message and offers it again, where classic-queue dead-lettering would drop it. At-least-
 * once requires a quorum source queue with `reject-publish` overflow (with `drop-head` the broker
 * falls back to at-most-once). Nothing here is a setting: the delay is in the name.
 */
export function delayQueueArguments(names: QueueNames, delayMs: number): Options.AssertQueue {
  return {
    durable: true,
    arguments: {
      'x-queue-type': 'quorum',
      'x-message-ttl': delayMs,
      'x-overflow': 'reject-publish',
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': names.main,
      'x-dead-letter-strategy': 'at-least-once',
    },
  };
}

/**
 * Declares a tenant queue: its DLQ and the quorum work queue (limits from the policy above).
 * A work queue made by an earlier version with other arguments (say `x-max-length`) is refused
 * with 406 PRECONDITION_FAILED: it is then used as it is (a passive declare proves it exists),
 * so its messages are consumed; the outcome says so. The delay queues are declared on first
 * use (`declareDelayQueue`), so a tenant that never retries costs the broker two queues.
 */
export async function declareTenantQueue(
  run: ChannelRunner,
  names: QueueNames,
): Promise<DeclareOutcome> {
  try {
    await run(async (channel) => {
      await channel.assertQueue(names.dlq, { durable: true });
      await channel.assertQueue(names.main, workQueueArguments(names));
    });
    return { outdated: null };
  } catch (err) {
    if (!isPreconditionFailed(err)) throw err;
    await declareOrUse(run, names.dlq, { durable: true });
    const outdated = await declareOrUse(run, names.main, workQueueArguments(names));
    return { outdated: outdated ?? errorText(err) };
  }
}

/** One backoff step's queue (see `delayQueueArguments`). */
export async function declareDelayQueue(
  run: ChannelRunner,
  names: QueueNames,
  step: number,
  delayMs: number,
): Promise<DeclareOutcome> {
  return {
    outdated: await declareOrUse(run, names.delays[step], delayQueueArguments(names, delayMs)),
  };
}

/** Every queue a tenant queue may have (missing ones are skipped). */
export function allQueues(names: QueueNames): string[] {
  return [names.main, ...names.delays, ...names.legacyDelays, names.dlq];
}

/** Declares the queue; when it exists with other arguments, checks it exists and says why. */
async function declareOrUse(
  run: ChannelRunner,
  queue: string,
  options: Options.AssertQueue,
): Promise<string | null> {
  try {
    await run((channel) => channel.assertQueue(queue, options));
    return null;
  } catch (err) {
    if (!isPreconditionFailed(err)) throw err;
    await run((channel) => channel.checkQueue(queue));
    return errorText(err);
  }
}

function isPreconditionFailed(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 406;
}

function errorText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 300);
}
