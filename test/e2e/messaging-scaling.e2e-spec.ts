import { Injectable } from '@nestjs/common';
import type { TestingModuleBuilder } from '@nestjs/testing';
import amqplib from 'amqplib';
import request from 'supertest';
import { ConsumerRegistry, MessageHandler, type HandledMessage } from '../../src/modules/messaging';
import { WorkerDbSlots } from '../../src/modules/messaging/worker-db-slots';
import { TENANT_HEADER } from '../../src/shared/tenant-context';
import { createTestApp, type TestApp } from '../support/app';
import { createTenant, platformAdmin, tenantMember, type Identity } from '../support/identities';
import { eventually } from '../support/services';
import { unitOfWork } from '../support/tenancy';

// Two statement slots per instance: one tenant's claims and completions can take both, so the
// fairness case below floods them.
process.env.MESSAGING_WORKER_DB_STATEMENTS = '2';

/** The 50th and 99th percentiles (nearest rank) of some figures. */
function percentiles(values: number[]): { p50: number; p99: number } {
  const sorted = [...values].sort((x, y) => x - y);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  return { p50: at(0.5), p99: at(0.99) };
}

/** Counts how many handlers run at once on its instance (each app has its own). */
@Injectable()
class ConcurrencyHandler extends MessageHandler {
  static all: ConcurrencyHandler[] = [];
  running = 0;
  peak = 0;
  done = 0;
  /** The workers the test expects here: a handler holds (1 s at most) until that many run. */
  limit = 1;
  constructor() {
    super();
    ConcurrencyHandler.all.push(this);
  }
  async handle(message: HandledMessage): Promise<void> {
    // A flooding tenant's queue: a slow effect (a webhook's round trip) on many workers.
    if (message.queueName === 'flood') return new Promise((r) => setTimeout(r, 25));
    if (message.queueName !== 'scale') return;
    this.running++;
    this.peak = Math.max(this.peak, this.running);
    // Hold until the instance runs as many as it may (or a while passes), so the peak shows the
    // limit whatever the machine's speed; a limit that let more run would show above it.
    const deadline = Date.now() + 1_000;
    while (this.running < this.limit && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, 20));
    this.running--;
    this.done++;
  }
}

describe('messaging: live scaling and deletion on two instances', () => {
  let one: TestApp;
  let two: TestApp;
  let admin: Identity;
  let owner: Identity;
  let tenant: { id: string };
  let broker: amqplib.ChannelModel;
  let channel: amqplib.ConfirmChannel;
  const handlerOf = (t: TestApp) => t.app.get<MessageHandler, ConcurrencyHandler>(MessageHandler);

  beforeAll(async () => {
    const withHandler = {
      override: (b: TestingModuleBuilder) =>
        b.overrideProvider(MessageHandler).useClass(ConcurrencyHandler),
    };
    one = await createTestApp(withHandler);
    two = await createTestApp(withHandler);
    admin = await platformAdmin(one);
    tenant = await createTenant(one, admin);
    owner = await tenantMember(one, tenant.id, 'tenant_owner');
    broker = await amqplib.connect(process.env.RABBITMQ_URL!);
    channel = await broker.createConfirmChannel();
  });
  afterAll(async () => {
    await broker?.close().catch(() => undefined);
    await Promise.allSettled([one?.close(), two?.close()]);
  });

  const status = async (t: TestApp) =>
    (
      await request(t.url)
        .get(`/api/v1/tenants/${tenant.id}/consumers/scale/status`)
        .set('Authorization', owner.bearer)
    ).body as {
      workers: number;
      in_flight: number;
      queue_depth: number | null;
      instances: Array<{ instance_id: string; workers: number; active_workers: number }>;
    };

  const floodStatus = async () =>
    (
      await request(one.url)
        .get(`/api/v1/tenants/${tenant.id}/consumers/flood/status`)
        .set('Authorization', owner.bearer)
    ).body as { instances: Array<{ instance_id: string; active_workers: number }> };

  /** Rows stored as queued, then their ids published straight to the work queue. */
  const load = async (count: number, queue = 'scale'): Promise<void> => {
    const rows = await unitOfWork(one, tenant.id, (m) =>
      m.query(
        `insert into messages (queue_name, payload) select $2, jsonb_build_object('n', g)
           from generate_series(1, $1::int) g returning id`,
        [count, queue],
      ),
    );
    for (const row of rows as Array<{ id: string }>) {
      channel.sendToQueue(
        `tenant.${tenant.id}.${queue}`,
        Buffer.from(JSON.stringify({ id: row.id })),
        {
          persistent: true,
          headers: { [TENANT_HEADER]: tenant.id },
        },
      );
    }
    // Every message is in the queue before the test waits for the queue to empty.
    await channel.waitForConfirms();
  };

  it('max in flight equals workers on each instance for 1 → 5 → 2, after a PUT sent to only one of them', async () => {
    const ids = [one, two].map((t) => t.app.get(ConsumerRegistry).instanceId);
    const peaks: Record<number, number[]> = {};
    for (const workers of [1, 5, 2]) {
      const put = await request(one.url)
        .put(`/api/v1/tenants/${tenant.id}/consumers/scale/config`)
        .set('Authorization', owner.bearer)
        .send({ workers });
      expect(put.status).toBe(200);
      const started = Date.now();
      const applied = await eventually(
        () => status(two),
        // Configured and subscribed (the queue exists and consumes) on both instances.
        (s) =>
          ids.every((id) => {
            const instance = s.instances.find((i) => i.instance_id === id);
            return instance?.workers === workers && instance.active_workers === workers;
          }),
        5_000,
        50,
      );
      const reachedMs = Date.now() - started;
      expect(applied.workers).toBe(workers);
      await eventually(
        () => status(one),
        (s) => s.in_flight === 0 && s.queue_depth === 0,
        20_000,
      );
      const handlers = [handlerOf(one), handlerOf(two)];
      handlers.forEach((h) => ((h.peak = 0), (h.done = 0), (h.limit = workers)));
      const handled = () => handlers.reduce((sum, h) => sum + h.done, 0);
      const count = 30 * workers;
      await load(count);
      // Done when both instances together handled every message, the queue is empty and nothing runs.
      await eventually(
        () => status(one),
        (s) =>
          s.in_flight === 0 &&
          s.queue_depth === 0 &&
          handlers.every((h) => h.running === 0) &&
          handled() >= count,
        60_000,
      );
      peaks[workers] = handlers.map((h) => h.peak);
      console.log(
        `scaling: workers ${workers} reached both instances in ${reachedMs} ms; peak in flight ${peaks[workers].join(' / ')}; processed here ${handlers.map((h) => h.done).join(' + ')} of ${count}`,
      );
      expect(handled()).toBe(count);
      for (const peak of peaks[workers]) expect(peak).toBeLessThanOrEqual(workers);
      expect(Math.max(...peaks[workers])).toBe(workers);
    }
  }, 150_000);

  it('concurrent PUTs end in the last value everywhere', async () => {
    for (const workers of [3, 4, 7, 2, 6]) {
      await request(one.url)
        .put(`/api/v1/tenants/${tenant.id}/consumers/scale/config`)
        .set('Authorization', owner.bearer)
        .send({ workers });
    }
    await Promise.all(
      [8, 9].map((workers) =>
        request(two.url)
          .put(`/api/v1/tenants/${tenant.id}/config/concurrency`)
          .set('Authorization', owner.bearer)
          .send({ workers }),
      ),
    );
    const stored = await status(one);
    const ids = [one, two].map((t) => t.app.get(ConsumerRegistry).instanceId);
    const settled = await eventually(
      () => status(two),
      (s) =>
        ids.every((id) => s.instances.find((i) => i.instance_id === id)?.workers === s.workers),
      5_000,
      50,
    );
    expect([8, 9]).toContain(stored.workers);
    expect(settled.workers).toBe(stored.workers);
  });

  it("a tenant flooding the workers' shared statement slots does not hold back another tenant's trickle", async () => {
    const FLOOD = 6_000;
    const TRICKLE = 20;
    // Tenant A: many workers on each instance for a queue whose effect is slow.
    const put = await request(one.url)
      .put(`/api/v1/tenants/${tenant.id}/consumers/flood/config`)
      .set('Authorization', owner.bearer)
      .send({ workers: 50 });
    expect(put.status).toBe(200);
    const ids = [one, two].map((t) => t.app.get(ConsumerRegistry).instanceId);
    await eventually(
      () => floodStatus(),
      (s) =>
        ids.every((id) => s.instances.find((i) => i.instance_id === id)?.active_workers === 50),
      5_000,
      50,
    );
    // Tenant B publishes through the API; a first message sets up its queue on both instances.
    const quiet = await createTenant(one, admin);
    const quietOwner = await tenantMember(one, quiet.id, 'tenant_owner');
    const publishB = async (n: number) => {
      const started = performance.now();
      const res = await request(one.url)
        .post('/api/v1/messages')
        .set('Authorization', quietOwner.bearer)
        .send({ payload: { n } });
      expect(res.status).toBe(202);
      return { id: res.body.id as string, ms: performance.now() - started };
    };
    type Timing = { status: string; waited_ms: number | null; processed_at: Date | null };
    const timings = (tenantId: string, where: string, params: unknown[]) =>
      unitOfWork<Timing[]>(one, tenantId, (m) =>
        m.query(
          `select status, processed_at,
                  extract(epoch from processed_at - created_at) * 1000 as waited_ms
             from messages where ${where}`,
          params,
        ),
      );
    const warmUp = await publishB(0);
    await eventually(
      () => timings(quiet.id, 'id = $1', [warmUp.id]),
      ([row]) => row?.status === 'processed',
      20_000,
    );

    // The shared statement slots of both instances, sampled while B publishes and is processed.
    const slots = [one, two].map((t) => t.app.get(WorkerDbSlots));
    const seen = { samples: 0, full: 0, peakWaiting: 0 };
    const sampler = setInterval(() => {
      for (const { stats, size } of slots) {
        seen.samples++;
        if (stats.running === size) seen.full++;
        seen.peakWaiting = Math.max(seen.peakWaiting, stats.waiting);
      }
    }, 5);
    // A's backlog stands in its queue; B publishes one message after another meanwhile.
    await load(FLOOD, 'flood');
    const published: Array<{ id: string; ms: number }> = [];
    for (let n = 1; n <= TRICKLE; n++) published.push(await publishB(n));
    const bIds = published.map((p) => p.id);
    const bRows = await eventually(
      () => timings(quiet.id, 'id = any($1::uuid[])', [bIds]),
      (rows) => rows.filter((r) => r.status === 'processed').length === TRICKLE,
      60_000,
    );
    clearInterval(sampler);
    const bDone = new Date(Math.max(...bRows.map((r) => r.processed_at!.getTime())));
    // Ordering, from the database's own clock: what of A was still pending when B's last ended.
    const [{ pending }] = await unitOfWork<Array<{ pending: number }>>(one, tenant.id, (m) =>
      m.query(
        `select count(*)::int as pending from messages
          where queue_name = 'flood' and (processed_at is null or processed_at > $1)`,
        [bDone],
      ),
    );

    const aRows = await eventually(
      () => timings(tenant.id, `queue_name = 'flood'`, []),
      (rows) => rows.filter((r) => r.status === 'processed').length === FLOOD,
      120_000,
      500,
    );
    const aEnds = aRows.map((r) => r.processed_at!.getTime());
    const aDrainMs = Math.max(...aEnds) - Math.min(...aEnds);
    const ms = (values: number[]) => {
      const p = percentiles(values);
      return `p50 ${p.p50.toFixed(0)} ms / p99 ${p.p99.toFixed(0)} ms`;
    };
    console.log(
      `fairness: B ${bRows.filter((r) => r.status === 'processed').length}/${TRICKLE} processed; ` +
        `B publish ${ms(published.map((p) => p.ms))}; B publish-to-processed ${ms(bRows.map((r) => Number(r.waited_ms)))}; ` +
        `A still pending when B finished: ${pending} of ${FLOOD}; ` +
        `slots (${slots[0].size} per instance) all taken in ${Math.round((100 * seen.full) / Math.max(seen.samples, 1))}% of samples, peak waiting batches ${seen.peakWaiting}; ` +
        `A drained in ${aDrainMs} ms (${Math.round((FLOOD * 1000) / Math.max(aDrainMs, 1))}/s), A publish-to-processed ${ms(aRows.map((r) => Number(r.waited_ms)))}`,
    );
    expect(bRows.filter((r) => r.status === 'processed')).toHaveLength(TRICKLE);
    // B was not queued behind A's backlog: a fifth of it was still waiting when B's last ended.
    expect(pending).toBeGreaterThan(FLOOD / 5);

    const deleted = await request(one.url)
      .delete(`/api/v1/tenants/${quiet.id}`)
      .set('Authorization', admin.bearer);
    expect(deleted.status).toBe(204);
  }, 180_000);

  it('deleting the tenant drains its consumers on both instances, then deletes its queues', async () => {
    await load(20);
    const res = await request(one.url)
      .delete(`/api/v1/tenants/${tenant.id}`)
      .set('Authorization', admin.bearer);
    expect(res.status).toBe(204);
    for (const t of [one, two]) {
      const registry = t.app.get(ConsumerRegistry);
      expect(registry.localStats(tenant.id, 'scale')).toBeNull();
      expect(registry.localStats(tenant.id, 'default')).toBeNull();
    }
    const probe = await broker.createChannel();
    probe.on('error', () => undefined);
    await expect(probe.checkQueue(`tenant.${tenant.id}.scale`)).rejects.toThrow(/404|NOT_FOUND/);
  });
});
