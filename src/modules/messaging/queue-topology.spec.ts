import type { Channel } from 'amqplib';
import fc from 'fast-check';
import {
  allQueues,
  type ChannelRunner,
  declareTenantQueue,
  delayQueueArguments,
  QUEUE_NAME_PATTERN,
  queueNames,
  retryTarget,
  workQueueArguments,
  workQueuePolicy,
} from './queue-topology';

const tenantId = '0b6f5b8e-2f7c-4a51-9d8e-4d1f2f6b7a10';
const runs = { seed: 4242, numRuns: 300 };
const queueName = fc.stringMatching(QUEUE_NAME_PATTERN);
const delays = fc.uniqueArray(fc.integer({ min: 1, max: 86_400_000 }), {
  minLength: 1,
  maxLength: 10,
});

describe('queueNames', () => {
  it('names the work queue tenant.<id>.<queue>, one delay queue per step by its delay, and the DLQ', () => {
    const main = `tenant.${tenantId}.orders`;
    expect(queueNames(tenantId, 'orders', [1000, 5000])).toEqual({
      main,
      delays: [`${main}.delay.1000ms`, `${main}.delay.5000ms`],
      legacyDelays: [`${main}.retry.1000ms`, `${main}.retry.5000ms`],
      dlq: `${main}.dlq`,
    });
  });

  it('gives two queues of a tenant, or one queue of two tenants, no broker queue in common', () => {
    fc.assert(
      fc.property(fc.uuid(), fc.uuid(), queueName, queueName, delays, (t1, t2, q1, q2, ms) => {
        fc.pre(t1 !== t2 || q1 !== q2);
        const one = new Set(allQueues(queueNames(t1, q1, ms)));
        const two = allQueues(queueNames(t2, q2, ms));
        expect(two.filter((name) => one.has(name))).toEqual([]);
      }),
      runs,
    );
  });

  it('lists every queue a tenant queue may have, for deletion', () => {
    const names = queueNames(tenantId, 'orders', [1000]);
    expect(allQueues(names).sort()).toEqual(
      [names.main, names.dlq, ...names.delays, ...names.legacyDelays].sort(),
    );
  });
});

describe('workQueuePolicy', () => {
  it('matches every tenant work queue and none of its delay, legacy retry or dead-letter queues', () => {
    const pattern = new RegExp(workQueuePolicy(10).pattern);
    fc.assert(
      fc.property(fc.uuid(), queueName, delays, (tenant, queue, ms) => {
        const names = queueNames(tenant, queue, ms);
        expect(pattern.test(names.main)).toBe(true);
        for (const other of [...names.delays, ...names.legacyDelays, names.dlq]) {
          expect(pattern.test(other)).toBe(false);
        }
      }),
      runs,
    );
  });

  it('limits the length with reject-publish (a full queue refuses; never drop-head) at priority 0', () => {
    const policy = workQueuePolicy(90_000);
    expect(policy.definition).toEqual({ 'max-length': 90_000, overflow: 'reject-publish' });
    expect(policy.priority).toBe(0);
  });
});

describe('queue arguments', () => {
  const names = queueNames(tenantId, 'orders', [1000, 5000]);

  it('declares the work queue quorum, dead-lettering into its DLQ, with no length argument', () => {
    const args = workQueueArguments(names).arguments ?? {};
    expect(args).toEqual({
      'x-queue-type': 'quorum',
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': names.dlq,
    });
  });

  it('declares a delay queue quorum with its TTL, dead-lettering back into the work queue at least once', () => {
    expect(delayQueueArguments(names, 5000).arguments).toEqual({
      'x-queue-type': 'quorum',
      'x-message-ttl': 5000,
      'x-overflow': 'reject-publish',
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': names.main,
      'x-dead-letter-strategy': 'at-least-once',
    });
  });
});

describe('declareTenantQueue', () => {
  /** A channel runner over a fake channel: the queues it holds and the arguments they were made with. */
  function broker(existing: Record<string, unknown> = {}) {
    const queues = new Map(Object.entries(existing));
    const calls: string[] = [];
    const channel = {
      assertQueue: (queue: string, options: { arguments?: unknown }) => {
        calls.push(`assert ${queue}`);
        const args = JSON.stringify(options.arguments ?? {});
        const held = queues.get(queue);
        if (held !== undefined && held !== args) {
          return Promise.reject(
            Object.assign(new Error(`PRECONDITION_FAILED - inequivalent arg for ${queue}`), {
              code: 406,
            }),
          );
        }
        queues.set(queue, args);
        return Promise.resolve({ queue });
      },
      checkQueue: (queue: string) => {
        calls.push(`check ${queue}`);
        return queues.has(queue)
          ? Promise.resolve({ queue })
          : Promise.reject(Object.assign(new Error('NOT_FOUND'), { code: 404 }));
      },
    };
    const run: ChannelRunner = (work) => work(channel as unknown as Channel);
    return { run, calls, queues };
  }

  it('declares the DLQ and the work queue as this version does', async () => {
    const names = queueNames(tenantId, 'orders', [1000]);
    const { run, queues } = broker();
    await expect(declareTenantQueue(run, names)).resolves.toEqual({ outdated: null });
    expect([...queues.keys()]).toEqual([names.dlq, names.main]);
  });

  it("uses a work queue of an earlier version's arguments as it is, and says why", async () => {
    const names = queueNames(tenantId, 'orders', [1000]);
    const { run, calls } = broker({ [names.main]: JSON.stringify({ 'x-max-length': 5 }) });
    const outcome = await declareTenantQueue(run, names);
    expect(outcome.outdated).toContain('PRECONDITION_FAILED');
    expect(calls).toContain(`check ${names.main}`);
  });

  it('fails when the broker refuses for another reason than the arguments', async () => {
    const names = queueNames(tenantId, 'orders', [1000]);
    const run: ChannelRunner = () =>
      Promise.reject(Object.assign(new Error('RESOURCE_LOCKED'), { code: 405 }));
    await expect(declareTenantQueue(run, names)).rejects.toThrow('RESOURCE_LOCKED');
  });
});

describe('retryTarget', () => {
  const names = queueNames(tenantId, 'orders', [1000, 5000, 30000]);

  it.each([
    [1, 5, names.delays[0]],
    [2, 5, names.delays[1]],
    [3, 5, names.delays[2]],
    [4, 5, names.delays[2]],
    [5, 5, names.dlq],
    [1, 1, names.dlq],
    [7, 5, names.dlq],
  ])('sends failed attempt %i of %i to %s', (attempts, maxAttempts, target) => {
    expect(retryTarget(names, attempts, maxAttempts).target).toBe(target);
  });

  it('dead-letters exactly when the attempts are spent, and never goes back to a shorter step', () => {
    fc.assert(
      fc.property(
        delays,
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 25 }),
        (ms, maxAttempts, attempts) => {
          const topology = queueNames(tenantId, 'orders', ms);
          const now = retryTarget(topology, attempts, maxAttempts);
          expect(now.final).toBe(attempts >= maxAttempts);
          if (now.final) {
            expect(now.target).toBe(topology.dlq);
            return;
          }
          expect(now.target).toBe(topology.delays[now.step]);
          expect(now.step).toBe(Math.min(attempts, ms.length) - 1);
          const next = retryTarget(topology, attempts + 1, maxAttempts);
          if (!next.final) expect(next.step).toBeGreaterThanOrEqual(now.step);
        },
      ),
      runs,
    );
  });
});
