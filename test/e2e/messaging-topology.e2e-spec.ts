import { Injectable } from '@nestjs/common';
import amqplib from 'amqplib';
import { register } from 'prom-client';
import request from 'supertest';
import { ConsumerRegistry, type HandledMessage, MessageHandler } from '../../src/modules/messaging';
import { createTestApp, type TestApp } from '../support/app';
import { SUITE_RETRY_DELAYS_MS } from '../support/env';
import {
  createTenant,
  type Identity,
  platformAdmin,
  platformSql,
  tenantMember,
} from '../support/identities';
import { eventually } from '../support/services';
import { rabbitManagement, VHOST } from '../support/rabbitmq-management';

process.env.MESSAGING_RETRY_DELAYS_MS = SUITE_RETRY_DELAYS_MS;

const BROKER = process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

/** The broker's management API (what the test reads of queues and policies, and its own policy). */
interface BrokerQueue {
  type?: string;
  arguments: Record<string, unknown>;
  effective_policy_definition?: Record<string, unknown>;
}
interface QueueStatus {
  consumable: boolean;
  blocked_reason: string | null;
  is_active: boolean;
  arguments_outdated: boolean;
}
interface Readiness {
  details?: { rabbitmq?: { queues_not_consumed?: number; message?: string } };
}

async function management<T = unknown>(
  path: string,
  method = 'GET',
  body?: unknown,
): Promise<T | null> {
  const res = await rabbitManagement(method, path.replace(/^\/api\//, ''), body);
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  const text = await res.text();
  return text ? (JSON.parse(text) as T) : null;
}
const queueInfo = (name: string) =>
  management<BrokerQueue>(`/api/queues/${VHOST}/${encodeURIComponent(name)}`);

/** Fails the first `fail_first` attempts of a message that asks for it, takes `slow_ms`; counts runs. */
@Injectable()
class FlakyHandler extends MessageHandler {
  static runs = 0;
  override isRecordOnly(): boolean {
    return false;
  }
  async handle(message: HandledMessage): Promise<void> {
    FlakyHandler.runs++;
    const asked = (message.payload ?? {}) as { fail_first?: number; slow_ms?: number };
    await new Promise((r) => setTimeout(r, asked.slow_ms ?? 5));
    if (message.attempt <= (asked.fail_first ?? 0)) {
      throw new Error(`refused attempt ${message.attempt}`);
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One app boot with these variables set for its config (restored after). */
async function boot(env: Record<string, string>, handler = false): Promise<TestApp> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return await createTestApp(
      handler
        ? {
            override: (builder) => builder.overrideProvider(MessageHandler).useClass(FlakyHandler),
          }
        : {},
    );
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe('messaging topology: limits as policies, at-least-once retries, queue caps', () => {
  const CAP = 3;
  let app: TestApp | undefined;
  let admin: Identity;
  let broker: amqplib.ChannelModel;
  const tenants: string[] = [];
  const testPolicies: string[] = [];

  const call = (method: 'get' | 'post' | 'put', path: string, auth: Record<string, string>) => {
    const req = request(app!.url)[method](path);
    for (const [k, v] of Object.entries(auth)) req.set(k, v);
    return req;
  };
  const bearer = (who: Identity) => ({ Authorization: who.bearer });
  const messagesOf = async (tenantId: string, queue: string) => {
    const res = await call(
      'get',
      `/api/v1/tenants/${tenantId}/messages?queue_name=${queue}&limit=100`,
      bearer(admin),
    );
    return res.body.data as Array<{ id: string; status: string; last_error: string | null }>;
  };
  const brokerQueueExists = async (name: string) => {
    const channel = await broker.createChannel();
    channel.on('error', () => undefined);
    try {
      await channel.checkQueue(name);
      await channel.close();
      return true;
    } catch {
      return false;
    }
  };

  beforeAll(async () => {
    broker = await amqplib.connect(BROKER);
  });
  afterAll(async () => {
    for (const name of testPolicies) {
      await management(`/api/policies/${VHOST}/${encodeURIComponent(name)}`, 'DELETE').catch(
        () => undefined,
      );
    }
    for (const id of tenants) {
      if (!app) break;
      await request(app.url)
        .delete(`/api/v1/tenants/${id}`)
        .set('Authorization', admin.bearer)
        .catch(() => undefined);
    }
    await broker?.close().catch(() => undefined);
    await app?.close();
  });

  it('queue limits are a broker policy: a queue of an earlier version (x-max-length argument) and a changed MESSAGING_QUEUE_MAX_LENGTH across a restart strand no queue', async () => {
    // Before: a publishing instance (no workers) with one limit.
    app = await boot({
      MESSAGING_WORKERS_ENABLED: 'false',
      MESSAGING_QUEUE_MAX_LENGTH: '90000',
      MESSAGING_MAX_QUEUES_PER_TENANT: String(CAP),
    });
    admin = await platformAdmin(app);
    const t = await createTenant(app, admin);
    tenants.push(t.id);
    const owner = await tenantMember(app, t.id, 'tenant_owner');
    const policy = await management<{ definition: Record<string, unknown> }>(
      `/api/policies/${VHOST}/tessera-messaging-work-queues`,
    );
    expect(policy?.definition).toEqual({ 'max-length': 90000, overflow: 'reject-publish' });

    // A queue as the earlier version declared it: the limit as an argument.
    const legacy = `tenant.${t.id}.legacy`;
    const channel = await broker.createChannel();
    await channel.assertQueue(`${legacy}.dlq`, { durable: true });
    await channel.assertQueue(legacy, {
      durable: true,
      arguments: {
        'x-queue-type': 'quorum',
        'x-max-length': 5,
        'x-overflow': 'reject-publish',
        'x-dead-letter-exchange': '',
        'x-dead-letter-routing-key': `${legacy}.dlq`,
      },
    });
    await channel.close();

    const accepted: string[] = [];
    for (const queue of ['default', 'legacy']) {
      for (let i = 0; i < 3; i++) {
        const res = await call('post', '/api/v1/messages', bearer(owner)).send({
          queue_name: queue,
          payload: { i },
        });
        expect(res.status).toBe(202);
        accepted.push(res.body.id as string);
      }
    }
    await app.close();

    // After: the setting changed (back to the default), workers on.
    // A long claim lease keeps the relay's sweep of rows left queued out of the retry test
    // below: what brings a held retry back there must be the broker.
    app = await boot(
      { MESSAGING_MAX_QUEUES_PER_TENANT: String(CAP), MESSAGING_CLAIM_LEASE_MS: '600000' },
      true,
    );
    const rows = async () => [
      ...(await messagesOf(t.id, 'default')),
      ...(await messagesOf(t.id, 'legacy')),
    ];
    const done = await eventually(
      rows,
      (list) => list.filter((m) => m.status === 'processed').length === accepted.length,
      30_000,
    );
    const status = (queue: string) =>
      call('get', `/api/v1/tenants/${t.id}/consumers/${queue}/status`, bearer(owner));
    const [defaultStatus, legacyStatus] = [
      (await status('default')).body as QueueStatus,
      (await status('legacy')).body as QueueStatus,
    ];
    const after = await management<{ definition: Record<string, unknown> }>(
      `/api/policies/${VHOST}/tessera-messaging-work-queues`,
    );
    // The management API's queue figures are sampled every few seconds.
    const defaultQueue = await eventually(
      () => queueInfo(`tenant.${t.id}.default`),
      (q) => q?.effective_policy_definition?.['max-length'] === 100_000,
      15_000,
      500,
    );
    console.log(
      `restart with a changed limit: accepted ${accepted.length}, processed ${done.filter((m) => m.status === 'processed').length}; ` +
        `default consumable ${defaultStatus.consumable} (policy max-length ${String(defaultQueue?.effective_policy_definition?.['max-length'])}), ` +
        `legacy consumable ${legacyStatus.consumable}, arguments_outdated ${legacyStatus.arguments_outdated}`,
    );
    expect(done.filter((m) => m.status === 'processed')).toHaveLength(accepted.length);
    expect(after?.definition['max-length']).toBe(100_000);
    expect(defaultQueue?.effective_policy_definition).toMatchObject({ 'max-length': 100_000 });
    expect(defaultQueue?.arguments['x-max-length']).toBeUndefined();
    expect(defaultStatus).toMatchObject({
      is_active: true,
      consumable: true,
      arguments_outdated: false,
    });
    expect(legacyStatus).toMatchObject({
      is_active: true,
      consumable: true,
      arguments_outdated: true,
    });

    // A queue that cannot be consumed (another connection holds it exclusively) is visible.
    const holder = await amqplib.connect(BROKER);
    const locked = `tenant.${t.id}.locked`;
    await (await holder.createChannel()).assertQueue(locked, { exclusive: true, durable: false });
    const put = await call(
      'put',
      `/api/v1/tenants/${t.id}/consumers/locked/config`,
      bearer(owner),
    ).send({
      workers: 1,
    });
    expect(put.status).toBe(200);
    const blocked = await eventually(
      async () => (await status('locked')).body as QueueStatus,
      (s) => s.consumable === false,
      10_000,
    );
    const all = (await call('get', '/api/v1/consumers/status', bearer(owner))).body.data as Array<{
      queue_name: string;
      consumable: boolean;
    }>;
    const ready = await eventually(
      async () =>
        (await request(app!.url).get('/health/ready').set('Authorization', admin.bearer))
          .body as Readiness,
      (body) => (body.details?.rabbitmq?.queues_not_consumed ?? 0) >= 1,
      5_000,
    );
    const gauge = async () =>
      (await register.getSingleMetric('tessera_messaging_queue_unconsumable')!.get()).values.find(
        (v) => v.labels.tenant_id === t.id && v.labels.queue_name === 'locked',
      )?.value;
    const gaugeBlocked = await eventually(gauge, (v) => v === 1, 5_000);
    console.log(
      `unconsumable queue: status consumable ${blocked.consumable} (${blocked.blocked_reason}); ` +
        `readiness queues_not_consumed ${ready.details?.rabbitmq?.queues_not_consumed}; gauge ${gaugeBlocked}`,
    );
    expect(blocked.blocked_reason).toMatch(/RESOURCE_LOCKED|exclusive/i);
    expect(all.find((q) => q.queue_name === 'locked')?.consumable).toBe(false);
    expect(ready.details?.rabbitmq?.message).toContain(locked);
    expect(gaugeBlocked).toBe(1);

    // Released: it consumes again by itself, and the gauge says so.
    await holder.close();
    const recovered = await eventually(
      async () => (await status('locked')).body as QueueStatus,
      (s) => s.consumable === true && s.is_active === true,
      20_000,
    );
    expect(recovered).toMatchObject({ consumable: true, is_active: true });
    expect(await eventually(gauge, (v) => v === 0, 5_000)).toBe(0);
  });

  it(`a tenant has at most MESSAGING_MAX_QUEUES_PER_TENANT (${CAP}) queues, and only owners and admins make one: an API key or a plain member naming a new queue gets 403 and nothing is made`, async () => {
    const [a, b] = [await createTenant(app!, admin), await createTenant(app!, admin)];
    tenants.push(a.id, b.id);
    const [ownerA, userA, ownerB] = await Promise.all([
      tenantMember(app!, a.id, 'tenant_owner'),
      tenantMember(app!, a.id, 'user'),
      tenantMember(app!, b.id, 'tenant_owner'),
    ]);
    const configure = (tenant: string, who: Identity, queue: string) =>
      call('put', `/api/v1/tenants/${tenant}/consumers/${queue}/config`, bearer(who)).send({
        workers: 1,
      });
    // default + 2 = the cap.
    expect((await configure(a.id, ownerA, 'q1')).status).toBe(200);
    expect((await configure(a.id, ownerA, 'q2')).status).toBe(200);
    const over = await configure(a.id, ownerA, 'q3');
    const overByPublish = await call('post', '/api/v1/messages', bearer(ownerA)).send({
      queue_name: 'q4',
      payload: {},
    });
    // Another tenant's cap is its own.
    const otherTenant = [
      (await configure(b.id, ownerB, 'q1')).status,
      (await configure(b.id, ownerB, 'q2')).status,
    ];
    // Not owners: an API key and a plain member name new queues.
    const viaKey = await call('post', '/api/v1/messages', { 'X-API-Key': a.api_key }).send({
      queue_name: 'viakey',
      payload: {},
    });
    const viaUser = await call('post', '/api/v1/messages', bearer(userA)).send({
      queue_name: 'viauser',
      payload: {},
    });
    // Existing queues stay open to them.
    const keyToExisting = await call('post', '/api/v1/messages', { 'X-API-Key': a.api_key }).send({
      queue_name: 'q1',
      payload: {},
    });
    console.log(
      `queue cap ${CAP}: tenant A third extra queue ${over.status} ${over.body.code}, by publish ${overByPublish.status}; ` +
        `tenant B ${otherTenant.join(', ')}; API key new queue ${viaKey.status} ${viaKey.body.code}, ` +
        `member new queue ${viaUser.status}, API key existing queue ${keyToExisting.status}`,
    );
    expect(over.status).toBe(409);
    expect(over.body.code).toBe('MESSAGING.QUEUE_LIMIT_REACHED');
    expect(overByPublish.status).toBe(409);
    expect(overByPublish.body.code).toBe('MESSAGING.QUEUE_LIMIT_REACHED');
    expect(otherTenant).toEqual([200, 200]);
    expect([viaKey.status, viaKey.body.code]).toEqual([403, 'MESSAGING.QUEUE_CREATE_FORBIDDEN']);
    expect([viaUser.status, viaUser.body.code]).toEqual([403, 'MESSAGING.QUEUE_CREATE_FORBIDDEN']);
    expect(keyToExisting.status).toBe(202);

    // Nothing was made for a refused queue: no row, no message, no broker queue, no consumer, no series.
    const registry = app!.app.get(ConsumerRegistry);
    const metrics = await register.metrics();
    for (const queue of ['q3', 'q4', 'viakey', 'viauser']) {
      const rows = await platformSql(
        'select 1 from messaging_queues where tenant_id = $1 and queue_name = $2',
        [a.id, queue],
      );
      expect({ queue, rows: rows.length }).toEqual({ queue, rows: 0 });
      expect(await messagesOf(a.id, queue)).toEqual([]);
      expect({ queue, exists: await brokerQueueExists(`tenant.${a.id}.${queue}`) }).toEqual({
        queue,
        exists: false,
      });
      expect(registry.localStats(a.id, queue)).toBeNull();
      expect(metrics).not.toContain(`queue_name="${queue}"`);
    }
  });

  it('retries that come due while the work queue is full are held by the broker (quorum delay queues, at-least-once dead-lettering) and delivered once there is room: every accepted message processed or failed with a reason, 0 stuck', async () => {
    const c = await createTenant(app!, admin);
    tenants.push(c.id);
    const owner = await tenantMember(app!, c.id, 'tenant_owner');
    const put = await call(
      'put',
      `/api/v1/tenants/${c.id}/consumers/flaky/config`,
      bearer(owner),
    ).send({ workers: 1, max_attempts: 5 });
    expect(put.status).toBe(200);
    // The test's own small limit, on its own queue only (a policy of higher priority).
    const main = `tenant.${c.id}.flaky`;
    const policyName = `test-full-${c.id}`;
    testPolicies.push(policyName);
    await management(`/api/policies/${VHOST}/${encodeURIComponent(policyName)}`, 'PUT', {
      pattern: `^${main.replace(/\./g, '\\.')}$`,
      definition: { 'max-length': 10, overflow: 'reject-publish' },
      priority: 10,
      'apply-to': 'queues',
    });
    await eventually(
      () => queueInfo(main),
      (q) => q?.effective_policy_definition?.['max-length'] === 10,
      10_000,
    );

    const publish = (payload: object) =>
      call('post', '/api/v1/messages', bearer(owner)).send({ queue_name: 'flaky', payload });
    const answers: Record<number, number> = {};
    const count = (status: number) => (answers[status] = (answers[status] ?? 0) + 1);
    // 8 messages whose first attempt fails: their retries come due 200 ms later …
    const flaky: string[] = [];
    for (let i = 0; i < 8; i++) {
      const res = await publish({ fail_first: 1 });
      count(res.status);
      if (res.status === 202) flaky.push(res.body.id as string);
    }
    // … while two publishers keep the queue full of slow messages (one worker, 250 ms each) for 4 s.
    const fillers: string[] = [];
    const until = Date.now() + 4_000;
    await Promise.all(
      Array.from({ length: 2 }, async () => {
        while (Date.now() < until) {
          const res = await publish({ slow_ms: 250 });
          count(res.status);
          if (res.status === 202) fillers.push(res.body.id as string);
          else await sleep(100);
        }
      }),
    );
    const started = Date.now();
    const accepted = [...flaky, ...fillers];
    const final = (m: { status: string }) => m.status === 'processed' || m.status === 'failed';
    const rows = await eventually(
      async () => {
        const all = new Map<string, { status: string; last_error: string | null }>();
        for (const id of accepted) {
          const res = await call('get', `/api/v1/messages/${id}`, bearer(owner));
          all.set(id, res.body as { status: string; last_error: string | null });
        }
        return all;
      },
      (all) => [...all.values()].every(final),
      60_000,
      1_000,
    );
    const list = [...rows.values()];
    const processed = list.filter((m) => m.status === 'processed').length;
    const failed = list.filter((m) => m.status === 'failed');
    const stuck = list.filter((m) => !final(m)).length;
    const flakyDone = flaky.filter((id) => rows.get(id)?.status === 'processed').length;
    const delay = await queueInfo(`${main}.delay.200ms`);
    console.log(
      `retries due while full: answers ${JSON.stringify(answers)}, accepted ${accepted.length} (${flaky.length} failing once, ${fillers.length} slow), ` +
        `processed ${processed} (of the failing ones ${flakyDone}), failed ${failed.length}, stuck ${stuck}, handler runs ${FlakyHandler.runs}; ` +
        `settled ${Date.now() - started} ms after publishing stopped; delay queue ${String(delay?.type)} ${String(delay?.arguments?.['x-dead-letter-strategy'])}`,
    );
    expect(answers[429] ?? 0).toBeGreaterThan(0); // the queue was full
    expect(flaky).toHaveLength(8);
    expect(stuck).toBe(0);
    expect(failed.every((m) => !!m.last_error)).toBe(true);
    expect(processed + failed.length).toBe(accepted.length);
    expect(flakyDone).toBe(flaky.length);
    expect(delay).toMatchObject({
      type: 'quorum',
      arguments: { 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' },
    });
  });
});
