import amqplib from 'amqplib';
import type { Server, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { ConsumerRegistry, OutboxRelay } from '../../src/modules/messaging';
import { TenantQueueWorker } from '../../src/modules/messaging/tenant-queue.worker';
import { commonError } from '../../src/shared/errors';
import { RabbitMqService } from '../../src/shared/rabbitmq';
import { RedisService } from '../../src/shared/redis';
import { TENANT_HEADER } from '../../src/shared/tenant-context';
import { createTestApp, type TestApp } from '../support/app';
import { createAppWithoutWorkers, startWebhookSink } from '../support/webhook-sink';
import { SUITE_RETRY_DELAYS_MS } from '../support/env';
import { createTenant, platformAdmin, tenantMember, type Identity } from '../support/identities';
import { eventually } from '../support/services';
import { unitOfWork } from '../support/tenancy';
import { rabbitManagement, VHOST } from '../support/rabbitmq-management';

process.env.MESSAGING_RETRY_DELAYS_MS = SUITE_RETRY_DELAYS_MS;
process.env.MESSAGING_RELAY_AFTER_MS = '300';
process.env.MESSAGING_RELAY_INTERVAL_MS = '300';

/** The broker's management API, for a policy this test owns (one queue of its own tenant). */
const management = rabbitManagement;
const vhost = VHOST;

/**
 * What messaging promises a client: nothing it was told is stored gets lost or stuck, no error
 * answer hides a message that is processed anyway, and one message runs its effect once at a
 * time. One publishing app without workers, then an app with workers (as in production).
 */
describe('messaging promises', () => {
  let api: TestApp; // publishes; no workers, no relay
  let workers: TestApp | undefined; // workers and relay (started by a test)
  let admin: Identity;
  let owner: Identity;
  let a: { id: string };
  let b: { id: string };
  let broker: amqplib.ChannelModel;
  const policy = `messaging-promises-${randomUUID()}`;
  // A webhook target that holds its answers while `holding`.
  let sink: Server;
  let sinkUrl = '';
  let holding = false;
  const held: ServerResponse[] = [];
  const calls = new Map<string, number>();
  // Checked once workers ran: messages that must never be stored, and the one stored through a 4xx seam.
  const refusedMarker = `refused-${randomUUID()}`;
  let seamId = '';

  const call = (method: 'get' | 'post' | 'put', path: string, who: Identity) =>
    request(api.url)[method](path).set('Authorization', who.bearer);
  const publish = (body: object, key?: string) => {
    const req = call('post', '/api/v1/messages', owner);
    if (key) req.set('Idempotency-Key', key);
    return req.send(body);
  };
  type Row = Record<string, unknown>;
  const rowsOf = (tenantId: string, sql: string, params: unknown[]) =>
    unitOfWork<Row[]>(api, tenantId, (m) => m.query(sql, params));
  const statusOf = async (ids: string[]) =>
    rowsOf(
      a.id,
      `select m.id, m.status, (o.message_id is not null) as in_outbox
         from messages m left join message_outbox o on o.message_id = m.id
        where m.id = any($1::uuid[])`,
      [ids],
    );
  const processedCount = async (ids: string[]) =>
    (await statusOf(ids)).filter((row) => row.status === 'processed').length;
  const startWorkers = async () => {
    workers ??= await createTestApp();
  };

  beforeAll(async () => {
    ({ server: sink, url: sinkUrl } = await startWebhookSink((req, res) => {
      const key = String(req.headers['idempotency-key']);
      calls.set(key, (calls.get(key) ?? 0) + 1);
      req.resume();
      const status = req.url?.includes('fail') ? 500 : 200;
      req.on('end', () => (holding ? held.push(res) : res.writeHead(status).end()));
    }));
    api = await createAppWithoutWorkers();
    admin = await platformAdmin(api);
    a = await createTenant(api, admin);
    b = await createTenant(api, admin);
    owner = await tenantMember(api, a.id, 'tenant_owner');
    broker = await amqplib.connect(process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
  });
  afterAll(async () => {
    jest.restoreAllMocks();
    holding = false;
    held.splice(0).forEach((res) => res.writeHead(200).end());
    await management('DELETE', `policies/${vhost}/${policy}`).catch(() => undefined);
    for (const tenant of [a, b].filter(Boolean)) {
      await request(api.url)
        .delete(`/api/v1/tenants/${tenant.id}`)
        .set('Authorization', admin.bearer)
        .catch(() => undefined);
    }
    await broker?.close().catch(() => undefined);
    await workers?.close();
    await api?.close();
    sink?.close();
  });

  it('an over-long Idempotency-Key is 400 MESSAGING.INVALID_IDEMPOTENCY_KEY naming the header, and nothing is stored', async () => {
    const marker = randomUUID();
    const long = await publish({ payload: { marker } }, 'k'.repeat(201));
    expect(long.status).toBe(400);
    expect(long.body).toMatchObject({
      code: 'MESSAGING.INVALID_IDEMPOTENCY_KEY',
      details: [{ field: 'Idempotency-Key' }],
    });
    expect(long.body.message).toMatch(/Idempotency-Key/);
    const stored = await rowsOf(a.id, `select 1 from messages where payload->>'marker' = $1`, [
      marker,
    ]);
    expect(stored).toHaveLength(0);
    const longest = await publish({ payload: { marker } }, 'k'.repeat(200));
    expect(longest.status).toBe(202);
  });

  it('an admin publish to tenant A with X-Tenant-ID B is refused (403) before anything is stored; names that agree are accepted', async () => {
    // Outbox rows written from now on that carry the refused payload or no message at all (the
    // relay drains earlier tests' rows meanwhile, so a plain count would move on its own).
    const [{ since }] = await rowsOf(a.id, `select now() as since`, []);
    const outbox = async () =>
      (
        await rowsOf(
          a.id,
          `select count(*)::int as n from message_outbox o
             left join messages m on m.tenant_id = o.tenant_id and m.id = o.message_id
            where o.created_at >= $1 and (m.id is null or m.payload->>'marker' = $2)`,
          [since, refusedMarker],
        )
      )[0].n as number;
    const outboxBefore = await outbox();
    const refused = await request(api.url)
      .post(`/api/v1/tenants/${a.id}/messages`)
      .set('Authorization', admin.bearer)
      .set('X-Tenant-ID', b.id)
      .send({ payload: { marker: refusedMarker } });
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('TENANCY.OTHER_TENANT');
    // The path and the body naming two tenants: refused the same way.
    const twoNames = await request(api.url)
      .post(`/api/v1/tenants/${a.id}/messages`)
      .set('Authorization', admin.bearer)
      .send({ payload: { marker: refusedMarker }, tenant_id: b.id });
    expect(twoNames.status).toBe(403);
    for (const tenant of [a.id, b.id]) {
      const rows = await rowsOf(tenant, `select 1 from messages where payload->>'marker' = $1`, [
        refusedMarker,
      ]);
      expect(rows).toHaveLength(0);
    }
    expect(await outbox()).toBe(outboxBefore);

    const agreeing = await request(api.url)
      .post(`/api/v1/tenants/${a.id}/messages`)
      .set('Authorization', admin.bearer)
      .set('X-Tenant-ID', a.id)
      .send({ payload: { admin: true } });
    expect(agreeing.status).toBe(202);
    const pathOnly = await request(api.url)
      .post(`/api/v1/tenants/${a.id}/messages`)
      .set('Authorization', admin.bearer)
      .send({ payload: { admin: true } });
    expect(pathOnly.status).toBe(202);
  });

  it('any failure after the message is stored is 503 relayed later (never a 4xx), and the message is processed', async () => {
    // A refusal the broker layer would answer after the commit (the tenant-header check).
    jest
      .spyOn(api.app.get(RabbitMqService), 'publish')
      .mockRejectedValueOnce(commonError('COMMON.FORBIDDEN', 'refused after the commit'));
    const res = await publish({ payload: { seam: true } });
    expect(res.status).toBe(503);
    expect(res.body.code).toBe('MESSAGING.BROKER_UNAVAILABLE');
    expect(res.body.details[0]).toMatchObject({ status: 'queued', relayed_later: true });
    seamId = res.body.details[0].message_id as string;
    expect(await statusOf([seamId])).toEqual([{ id: seamId, status: 'queued', in_outbox: true }]);
    jest.restoreAllMocks();
  });

  it('a full queue answers 429 with the message stored and queued (outbox); a retry with the same key answers 202 queued; every message is processed once workers run', async () => {
    // This queue alone holds 3 messages: a policy of this test's, above the app's own.
    const queue = `tenant.${a.id}.full`;
    const put = await management('PUT', `policies/${vhost}/${policy}`, {
      pattern: `^${queue.replace(/\./g, '\\.')}$`,
      definition: { 'max-length': 3, overflow: 'reject-publish' },
      priority: 100,
      'apply-to': 'queues',
    });
    expect([201, 204]).toContain(put.status);

    const sent = Array.from({ length: 6 }, (_, i) => `full-${i}-${randomUUID()}`);
    const answers: request.Response[] = [];
    for (const key of sent) {
      const res = await publish({ queue_name: 'full', payload: { key } }, key);
      answers.push(res);
      if (answers.length === 1) {
        // The queue exists now: wait until the broker applies the policy to it.
        const applied = await eventually(
          async () =>
            (
              (await (
                await management('GET', `queues/${vhost}/${encodeURIComponent(queue)}`)
              ).json()) as {
                policy?: string;
              }
            ).policy,
          (name) => name === policy,
          15_000,
        );
        expect(applied).toBe(policy);
      }
    }
    const accepted = answers.filter((r) => r.status === 202);
    const full = answers.filter((r) => r.status === 429);
    expect(accepted.length + full.length).toBe(sent.length);
    expect(full.length).toBeGreaterThan(0);
    for (const res of full) {
      expect(res.body.code).toBe('MESSAGING.QUEUE_FULL');
      expect(res.headers['retry-after']).toBeDefined();
      expect(res.body.details[0]).toMatchObject({ status: 'queued', relayed_later: true });
    }
    const fullIds = full.map((r) => r.body.details[0].message_id as string);
    // Stored and waiting: queued with its outbox row (before: failed, its outbox row deleted).
    const waiting = await statusOf(fullIds);
    expect(waiting.every((row) => row.status === 'queued' && row.in_outbox)).toBe(true);
    expect(waiting).toHaveLength(fullIds.length);

    // The retry the 429 asks for, with the same key: the stored message, queued (the relay will publish it).
    const retryKey = sent[answers.indexOf(full[0])];
    const retried = await publish({ queue_name: 'full', payload: { key: retryKey } }, retryKey);
    expect(retried.status).toBe(202);
    expect(retried.headers['idempotent-replayed']).toBe('true');
    expect(retried.body).toMatchObject({ id: fullIds[0], status: 'queued' });

    await startWorkers();
    const ids = [...accepted.map((r) => r.body.id as string), ...fullIds];
    const processed = await eventually(
      () => processedCount(ids),
      (n) => n === ids.length,
      60_000,
      300,
    );
    console.log(
      `queue full (max-length 3, no workers): sent ${sent.length}, 202 ${accepted.length}, 429 (stored, relayed later) ${full.length}, replay with the same key 202 status ${retried.body.status}; workers back: processed ${processed}, lost ${ids.length - processed}`,
    );
    expect(processed).toBe(ids.length);

    // The 4xx-after-commit seam's message was relayed and processed; the refused one never existed.
    expect(
      await eventually(
        () => processedCount([seamId]),
        (n) => n === 1,
        30_000,
      ),
    ).toBe(1);
    for (const tenant of [a.id, b.id]) {
      const rows = await rowsOf(tenant, `select 1 from messages where payload->>'marker' = $1`, [
        refusedMarker,
      ]);
      expect(rows).toHaveLength(0);
    }
  }, 120_000);

  it('two deliveries of one message in flight at once run its webhook once (the claim is a lease)', async () => {
    await startWorkers();
    const config = await call('put', `/api/v1/tenants/${a.id}/consumers/dup/config`, owner).send({
      workers: 4,
      webhook_url: sinkUrl,
    });
    expect(config.status).toBe(200);
    const worker = workers!.app.get(TenantQueueWorker);
    const unclaimed = jest.spyOn(
      worker as unknown as { unclaimed: (...args: unknown[]) => Promise<void> },
      'unclaimed',
    );
    holding = true;
    const res = await publish({ queue_name: 'dup', payload: { dup: true } });
    expect(res.status).toBe(202);
    const id = res.body.id as string;
    // The first delivery is inside its webhook call, unacked.
    expect(
      await eventually(
        () => Promise.resolve(held.length),
        (n) => n === 1,
        30_000,
      ),
    ).toBe(1);

    // A second copy of the same message (as a relayed duplicate would be), while the first runs.
    const channel = await broker.createConfirmChannel();
    channel.sendToQueue(`tenant.${a.id}.dup`, Buffer.from(JSON.stringify({ id })), {
      messageId: id,
      persistent: true,
      contentType: 'application/json',
      headers: { [TENANT_HEADER]: a.id },
    });
    await channel.waitForConfirms();
    await channel.close();
    const settled = await eventually(
      () => Promise.resolve(unclaimed.mock.calls.length + (calls.get(id) ?? 0)),
      (n) => n >= 2,
      30_000,
    );
    expect(settled).toBeGreaterThanOrEqual(2);
    holding = false;
    held.splice(0).forEach((r) => r.writeHead(200).end());
    const status = await eventually(
      async () => (await statusOf([id]))[0]?.status as string | undefined,
      (s) => s === 'processed',
      30_000,
    );
    console.log(
      `duplicate in flight: deliveries 2, webhook calls ${calls.get(id)}, duplicates acked unclaimed ${unclaimed.mock.calls.length}, status ${status}`,
    );
    expect(calls.get(id)).toBe(1);
    expect(status).toBe('processed');
    unclaimed.mockRestore();
  }, 90_000);

  it('a retry with the key of a message that has failed is 409 MESSAGING.MESSAGE_FAILED naming it, never a 202', async () => {
    await startWorkers();
    const config = await call('put', `/api/v1/tenants/${a.id}/consumers/fails/config`, owner).send({
      workers: 1,
      max_attempts: 1,
      webhook_url: `${sinkUrl}?fail=1`,
    });
    expect(config.status).toBe(200);
    const key = `fails-${randomUUID()}`;
    const first = await publish({ queue_name: 'fails', payload: { fails: true } }, key);
    expect(first.status).toBe(202);
    const id = first.body.id as string;
    const status = await eventually(
      async () => (await statusOf([id]))[0]?.status as string | undefined,
      (s) => s === 'failed',
      30_000,
    );
    expect(status).toBe('failed');
    const again = await publish({ queue_name: 'fails', payload: { fails: true } }, key);
    console.log(`failed message, replayed key: ${again.status} ${again.body.code}`);
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({
      code: 'MESSAGING.MESSAGE_FAILED',
      details: [{ message_id: id, status: 'failed', attempts: 1 }],
    });
  }, 60_000);

  it('messages left queued or processing past their lease with no outbox row and nothing in the broker are swept and processed', async () => {
    await startWorkers();
    const queued = randomUUID();
    const processing = randomUUID();
    const retried = randomUUID();
    await unitOfWork(api, a.id, (m) =>
      m.query(
        `insert into messages (id, queue_name, payload, status, attempts, created_at, updated_at, claimed_at)
         values ($1, 'sweep', '{"left":"queued"}', 'queued', 0, now() - interval '1 hour', now() - interval '1 hour', null),
                ($2, 'sweep', '{"left":"processing"}', 'processing', 1, now() - interval '1 hour', now() - interval '1 hour', now() - interval '1 hour'),
                ($3, 'sweep', '{"left":"retry"}', 'queued', 2, now() - interval '1 hour', now() - interval '1 hour', now() - interval '1 hour')`,
        [queued, processing, retried],
      ),
    );
    const ids = [queued, processing, retried];
    const processed = await eventually(
      () => processedCount(ids),
      (n) => n === ids.length,
      30_000,
      300,
    );
    console.log(
      `sweep: left queued 1, left processing past its lease 1, left queued after a dropped retry 1 (no outbox row, nothing in the broker); processed ${processed}, stuck ${ids.length - processed}`,
    );
    expect(processed).toBe(ids.length);
  }, 60_000);

  it('the relay lock is released only by its holder: a lock taken over by another instance survives the release', async () => {
    await startWorkers();
    const relay = workers!.app.get(OutboxRelay);
    const redis = workers!.app.get(RedisService);
    const lockKey = redis.key('messaging:relay-lock');
    // The relay's own ticks stopped: this test drives one by hand.
    await relay.onApplicationShutdown();
    await eventually(
      () => redis.client.exists(lockKey),
      (n) => n === 0,
      10_000,
    );
    // Mid-tick, the lock expires and another instance takes it.
    const other = `another-instance/${randomUUID()}`;
    jest
      .spyOn(workers!.app.get(ConsumerRegistry), 'liveTenants')
      .mockImplementationOnce(async () => {
        await redis.client.set(lockKey, other, 'PX', 30_000);
        return [];
      });
    await relay.tick();
    const after = await redis.client.get(lockKey);
    console.log(
      `relay lock: held by another instance when the tick ended; after release: ${after === other ? 'still theirs' : String(after)}`,
    );
    expect(after).toBe(other);
    await redis.client.del(lockKey);
  });
});
