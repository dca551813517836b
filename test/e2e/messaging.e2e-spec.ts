import { Injectable } from '@nestjs/common';
import amqplib from 'amqplib';
import type { Server } from 'node:http';
import request from 'supertest';
import {
  ConsumerRegistry,
  MessageHandler,
  type HandledMessage,
  WebhookMessageHandler,
} from '../../src/modules/messaging';
import { SIGNATURE_HEADER, signBody } from '../../src/shared/outbound';
import { TENANT_HEADER } from '../../src/shared/tenant-context';
import { createTestApp, type TestApp } from '../support/app';
import { createAppWithoutWorkers, startWebhookSink } from '../support/webhook-sink';
import { createTenant, platformAdmin, tenantMember, type Identity } from '../support/identities';
import { SUITE_RETRY_DELAYS_MS } from '../support/env';
import { eventually } from '../support/services';
import { adminSql, unitOfWork } from '../support/tenancy';

process.env.MESSAGING_RETRY_DELAYS_MS = SUITE_RETRY_DELAYS_MS;

/** Records every run here, then does what the real handler does. */
@Injectable()
class RecordingHandler extends MessageHandler {
  static runs: HandledMessage[] = [];
  constructor(private readonly webhook: WebhookMessageHandler) {
    super();
  }
  handle(message: HandledMessage): Promise<void> {
    RecordingHandler.runs.push(message);
    return this.webhook.handle(message);
  }
}

const runsOf = (id: string) => RecordingHandler.runs.filter((r) => r.id === id).length;

describe('messaging', () => {
  let api: TestApp; // publishes; runs no workers
  let workers: TestApp | undefined; // runs the workers (started by a test)
  let admin: Identity;
  let ownerA: Identity;
  let userA: Identity;
  let ownerB: Identity;
  let a: { id: string; api_key: string };
  let b: { id: string; api_key: string };
  let broker: amqplib.ChannelModel;
  let channel: amqplib.Channel;
  // A webhook target: 500 while `sinkFails`. Any instance fails it the same way (another
  // process's app refuses an http:// target), so the outcome does not depend on who consumes.
  let sink: Server;
  let sinkUrl = '';
  let sinkFails = true;
  const deliveries: Array<{ signature: string; body: string }> = [];

  const startWorkers = async () => {
    workers = await createTestApp({
      override: (builder) => builder.overrideProvider(MessageHandler).useClass(RecordingHandler),
    });
  };
  const call = (method: 'get' | 'post' | 'put', path: string, who: Identity) =>
    request(api.url)[method](path).set('Authorization', who.bearer);
  const publish = (who: Identity, body: object, key?: string) => {
    const req = call('post', '/api/v1/messages', who);
    if (key) req.set('Idempotency-Key', key);
    return req.send(body);
  };
  const message = async (id: string, who: Identity = ownerA) =>
    (await call('get', `/api/v1/messages/${id}`, who)).body as {
      status: string;
      attempts: number;
      last_error: string | null;
    };

  beforeAll(async () => {
    ({ server: sink, url: sinkUrl } = await startWebhookSink((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        deliveries.push({ signature: String(req.headers[SIGNATURE_HEADER] ?? ''), body });
        res.writeHead(sinkFails ? 500 : 200).end();
      });
    }));
    api = await createAppWithoutWorkers();
    admin = await platformAdmin(api);
    a = await createTenant(api, admin);
    b = await createTenant(api, admin);
    [ownerA, userA, ownerB] = await Promise.all([
      tenantMember(api, a.id, 'tenant_owner'),
      tenantMember(api, a.id, 'user'),
      tenantMember(api, b.id, 'tenant_owner'),
    ]);
    broker = await amqplib.connect(process.env.RABBITMQ_URL!);
    channel = await broker.createChannel();
  });
  afterAll(async () => {
    // Deleting the tenants drains and deletes their queues: nothing piles up in the broker.
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

  it("provisioning creates the tenant's messages partition (with RLS) and its default quorum queue", async () => {
    const partition = `messages_${a.id.replace(/-/g, '')}`;
    const rows = await adminSql<{ rls: boolean; forced: boolean }>(
      `select relrowsecurity as rls, relforcerowsecurity as forced from pg_class where relname = $1`,
      [partition],
      process.env.TENANT_DATABASE_NAME,
    );
    expect(rows).toEqual([{ rls: true, forced: true }]);
    const queue = await channel.checkQueue(`tenant.${a.id}.default`);
    expect(queue.queue).toBe(`tenant.${a.id}.default`);
  });

  it('10 messages published while no worker runs are all processed once workers start; Idempotency-Key returns the first', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await publish(userA, { payload: { n: i } });
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ tenant_id: a.id, queue_name: 'default', status: 'queued' });
      ids.push(res.body.id as string);
    }
    const first = await publish(userA, { message_body: { once: true } }, 'key-1');
    const again = await publish(userA, { message_body: { once: true } }, 'key-1');
    expect(again.status).toBe(202);
    expect(again.body.id).toBe(first.body.id);
    ids.push(first.body.id as string);
    // Nothing consumes in this app (other processes sharing the broker may).
    expect(api.app.get(ConsumerRegistry).size).toBe(0);

    await startWorkers();
    for (const id of ids) {
      const done = await eventually(
        () => message(id),
        (m) => m.status === 'processed',
        20_000,
      );
      expect(done.status).toBe('processed');
      expect(runsOf(id)).toBeLessThanOrEqual(1);
    }
    console.log(`no-worker backlog: accepted ${ids.length}, processed ${ids.length}`);
  });

  it('a poison message gets exactly max_attempts attempts, then DLQ and failed; others keep flowing; retry brings it back', async () => {
    const hook = await call('put', `/api/v1/tenants/${a.id}/consumers/hooks/config`, ownerA).send({
      workers: 2,
      max_attempts: 3,
      webhook_url: sinkUrl,
    });
    expect(hook.status).toBe(200);
    const poison = await publish(ownerA, { payload: { poison: true }, queue_name: 'hooks' });
    const fine = await publish(ownerA, { payload: { fine: true } });
    expect(poison.status).toBe(202);
    const failed = await eventually(
      () => message(poison.body.id as string),
      (m) => m.status === 'failed',
      30_000,
    );
    expect(failed).toMatchObject({ status: 'failed', attempts: 3 });
    expect(failed.last_error).toMatch(/webhook/);
    expect(
      (
        await eventually(
          () => message(fine.body.id as string),
          (m) => m.status === 'processed',
        )
      ).status,
    ).toBe('processed');
    const dlq = await channel.checkQueue(`tenant.${a.id}.hooks.dlq`);
    expect(dlq.messageCount).toBeGreaterThanOrEqual(1);

    expect((await call('post', `/api/v1/messages/${poison.body.id}/retry`, userA)).status).toBe(
      403,
    );
    sinkFails = false;
    const unhook = await call('put', `/api/v1/tenants/${a.id}/consumers/hooks/config`, ownerA).send(
      { workers: 2, webhook_url: null },
    );
    expect(unhook.status).toBe(200);
    const retried = await call('post', `/api/v1/messages/${poison.body.id}/retry`, ownerA);
    expect(retried.status).toBe(202);
    const back = await eventually(
      () => message(poison.body.id as string),
      (m) => m.status === 'processed',
      20_000,
    );
    expect(back).toMatchObject({ status: 'processed', attempts: 1 });
    const again = await call('post', `/api/v1/messages/${poison.body.id}/retry`, ownerA);
    expect(again.status).toBe(409);
    console.log(`poison: attempts ${failed.attempts}, then failed; after retry ${back.status}`);
  });

  it('each queue signs its webhook with a secret of its own, shown once; a rotation replaces it; another tenant gets another', async () => {
    const configure = (who: Identity, tenantId: string, body: object) =>
      call('put', `/api/v1/tenants/${tenantId}/consumers/signed/config`, who).send(body);
    const first = await configure(ownerA, a.id, { workers: 1, webhook_url: sinkUrl });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ signing: true, signing_secret: expect.any(String) });
    const secretA = first.body.signing_secret as string;
    expect(secretA.length).toBeGreaterThanOrEqual(40);
    const again = await configure(ownerA, a.id, { workers: 2, webhook_url: sinkUrl });
    expect(again.body.signing).toBe(true);
    expect(again.body.signing_secret).toBeUndefined(); // shown once
    const other = await configure(ownerB, b.id, { workers: 1, webhook_url: sinkUrl });
    const secretB = other.body.signing_secret as string;
    expect(secretB).toEqual(expect.any(String));
    expect(secretB).not.toBe(secretA);

    const signedBy = (delivery: { signature: string; body: string }, secret: string) => {
      const [, t, v1] = /^t=(\d+),v1=([0-9a-f]+)$/.exec(delivery.signature) ?? [];
      return Boolean(t) && signBody(secret, Number(t), delivery.body) === v1;
    };
    /** Publishes to A's signed queue until a delivery verifies with `secret`; that delivery. */
    const deliveredSignedWith = (secret: string) =>
      eventually(
        async () => {
          const res = await publish(ownerA, { payload: { signed: true }, queue_name: 'signed' });
          expect(res.status).toBe(202);
          const id = res.body.id as string;
          const done = await eventually(
            () => Promise.resolve(deliveries.find((d) => d.body.includes(id))),
            (d) => d !== undefined,
            20_000,
          );
          return done && signedBy(done, secret) ? done : undefined;
        },
        (d) => d !== undefined,
        20_000,
      );
    const underA = await deliveredSignedWith(secretA);
    expect(underA).toBeDefined();
    expect(signedBy(underA!, secretB)).toBe(false);

    const rotated = await configure(ownerA, a.id, { workers: 2, rotate_signing_secret: true });
    expect(rotated.status).toBe(200);
    const secretA2 = rotated.body.signing_secret as string;
    expect(secretA2).toEqual(expect.any(String));
    expect(secretA2).not.toBe(secretA);
    // Every instance signs with the new secret once the change reached it (about a second).
    const underA2 = await deliveredSignedWith(secretA2);
    expect(underA2).toBeDefined();
    expect(signedBy(underA2!, secretA)).toBe(false);
    // Another tenant can neither see nor rotate A's secret.
    const foreign = await call(
      'put',
      `/api/v1/tenants/${a.id}/consumers/signed/config`,
      ownerB,
    ).send({ workers: 2, rotate_signing_secret: true });
    expect([403, 404]).toContain(foreign.status);
    expect(JSON.stringify(foreign.body)).not.toContain(secretA2);
  });

  it('pagination: 15 rows inserted in the same instant, pages of 5: no gap, no duplicate; bad cursors are 400; the RFC 3339 cursor works', async () => {
    await unitOfWork(api, a.id, (m) =>
      m.query(
        `insert into messages (queue_name, payload, status)
         select 'pages', jsonb_build_object('n', g), 'processed' from generate_series(1, 15) g`,
      ),
    );
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await call(
        'get',
        `/api/v1/tenants/${a.id}/messages?queue_name=pages&limit=5${cursor ? `&cursor=${cursor}` : ''}`,
        userA,
      );
      expect(res.status).toBe(200);
      seen.push(...(res.body.data as Array<{ id: string }>).map((m) => m.id));
      cursor = res.body.next_cursor as string | null;
      pages++;
    } while (cursor && pages < 10);
    expect(seen).toHaveLength(15);
    expect(new Set(seen).size).toBe(15);
    expect(pages).toBe(3);

    const forged = Buffer.from(JSON.stringify(['1', 'x'])).toString('base64url');
    for (const bad of [forged, 'not-a-cursor']) {
      const res = await call('get', `/api/v1/messages?cursor=${bad}`, userA);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('COMMON.INVALID_CURSOR');
    }
    const legacy = await call(
      'get',
      `/api/v1/messages?queue_name=pages&cursor=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`,
      userA,
    );
    expect(legacy.status).toBe(200);
    expect(legacy.body.data).toHaveLength(15);
  });

  it('bad input: queue name, payload size, workers and webhook URL are 4xx naming the field', async () => {
    expect((await publish(userA, { payload: 1, queue_name: 'Bad!' })).status).toBe(400);
    expect((await publish(userA, { queue_name: 'x' })).status).toBe(400);
    const big = await publish(userA, { payload: 'x'.repeat(300 * 1024) });
    expect(big.status).toBe(413);
    for (const workers of [0, 51, 2.5, 'five']) {
      const res = await call('put', `/api/v1/tenants/${a.id}/config/concurrency`, ownerA).send({
        workers,
      });
      expect(res.status).toBe(400);
      expect(JSON.stringify(res.body)).toContain('workers');
    }
    for (const webhook_url of ['http://example.com/hook', 'https://127.0.0.1/hook']) {
      const res = await call(
        'put',
        `/api/v1/tenants/${a.id}/consumers/default/config`,
        ownerA,
      ).send({ workers: 2, webhook_url });
      expect(res.status).toBe(400);
      expect(JSON.stringify(res.body)).toContain('webhook_url');
    }
    const badQueue = await call('get', `/api/v1/tenants/${a.id}/consumers/NO!/status`, ownerA);
    expect(badQueue.status).toBe(400);
    const unknown = await call(
      'get',
      `/api/v1/tenants/00000000-0000-4000-8000-000000000000/messages`,
      admin,
    );
    expect(unknown.status).toBe(404);
    // A platform admin who names no tenant sent an incomplete request: 400, not 404.
    const unnamed = await publish(admin, { payload: { n: 1 } });
    expect(unnamed.status).toBe(400);
    expect(unnamed.body.code).toBe('COMMON.TENANT_REQUIRED');
  });

  it("isolation: another tenant cannot publish to, list, read, retry or reconfigure a tenant's queues", async () => {
    const own = await publish(ownerA, { payload: { secret: 'a' } });
    expect(own.status).toBe(202);
    const id = own.body.id as string;
    expect((await call('get', `/api/v1/messages/${id}`, ownerB)).status).toBe(404);
    expect((await call('post', `/api/v1/messages/${id}/retry`, ownerB)).status).toBe(404);
    const attempts = [
      call('post', `/api/v1/tenants/${a.id}/messages`, ownerB).send({
        queue_name: 'default',
        message_body: 1,
      }),
      call('get', `/api/v1/tenants/${a.id}/messages`, ownerB),
      call('put', `/api/v1/tenants/${a.id}/config/concurrency`, ownerB).send({ workers: 2 }),
      call('put', `/api/v1/tenants/${a.id}/consumers/default/config`, ownerB).send({ workers: 2 }),
      call('get', `/api/v1/tenants/${a.id}/consumers/default/status`, ownerB),
      publish(ownerB, { payload: 1, tenant_id: a.id }),
    ];
    for (const res of await Promise.all(attempts)) expect(res.status).toBe(403);
    const listB = await call('get', '/api/v1/messages', ownerB);
    expect(
      (listB.body.data as Array<{ tenant_id: string }>).every((m) => m.tenant_id === b.id),
    ).toBe(true);
    const statusB = await call('get', '/api/v1/consumers/status', ownerB);
    expect(statusB.status).toBe(200);
    expect(
      (statusB.body.data as Array<{ tenant_id: string }>).every((s) => s.tenant_id === b.id),
    ).toBe(true);
    const statusUser = await call('get', `/api/v1/tenants/${a.id}/consumers/default/status`, userA);
    expect(statusUser.status).toBe(403);
    const statusOwner = await call(
      'get',
      `/api/v1/tenants/${a.id}/consumers/default/status`,
      ownerA,
    );
    expect(statusOwner.status).toBe(200);
    expect(statusOwner.body).toMatchObject({ tenant_id: a.id, queue_name: 'default' });
  });

  it("a message with a forged tenant header on a tenant's queue is dead-lettered, not processed", async () => {
    const before = (await channel.checkQueue(`tenant.${a.id}.default.dlq`)).messageCount;
    const forgedId = '11111111-1111-4111-8111-111111111111';
    channel.sendToQueue(`tenant.${a.id}.default`, Buffer.from(JSON.stringify({ id: forgedId })), {
      headers: { [TENANT_HEADER]: b.id },
    });
    const after = await eventually(
      () => channel.checkQueue(`tenant.${a.id}.default.dlq`).then((q) => q.messageCount),
      (n) => n === before + 1,
      10_000,
    );
    expect(after).toBe(before + 1);
    expect(runsOf(forgedId)).toBe(0);
  });
});
