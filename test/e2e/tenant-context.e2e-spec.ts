import { randomUUID } from 'node:crypto';
import request from 'supertest';
import WebSocket from 'ws';
import { RequestAuthenticator } from '../../src/shared/auth';
import { KafkaService } from '../../src/shared/kafka';
import { RabbitMqService } from '../../src/shared/rabbitmq';
import { TenantContext } from '../../src/shared/tenant-context';
import { createTestApp, type TestApp } from '../support/app';
import { TenantProvisionerService } from '../../src/modules/tenancy/tenant-provisioner.service';
import { HeaderTenantAuthenticator } from '../support/header-tenant.authenticator';
import { uniqueName } from '../support/tenancy';
import {
  ContextProbeController,
  type ContextReading,
  readAcrossAwait,
} from '../support/context-probe';

const UNITS = 1_000;
/** Two tenants of the registry (provisioned in beforeAll): a socket's `hello` needs its tenant's feed. */
const tenants: string[] = [randomUUID(), randomUUID()];

/** Unit i belongs to tenant i % 2 and carries its own request id: the two tenants interleave. */
function unit(i: number): { tenantId: string; requestId: string } {
  return { tenantId: tenants[i % 2], requestId: `unit-${i}-${randomUUID()}` };
}

function expectOwnContext(
  reading: ContextReading,
  expected: { tenantId: string; requestId: string },
): void {
  expect(reading).toEqual({
    tenant_before: expected.tenantId,
    tenant_after: expected.tenantId,
    request_id_before: expected.requestId,
    request_id_after: expected.requestId,
  });
}

async function inBatches<T>(
  count: number,
  size: number,
  work: (i: number) => Promise<T>,
): Promise<T[]> {
  const out: T[] = [];
  for (let start = 0; start < count; start += size) {
    const batch = Array.from({ length: Math.min(size, count - start) }, (_, k) => work(start + k));
    out.push(...(await Promise.all(batch)));
  }
  return out;
}

describe('one tenant context for every transport', () => {
  let t: TestApp;
  let context: TenantContext;

  beforeAll(async () => {
    // What this file proves is context propagation, whoever verifies credentials: the tenant comes
    // from X-Tenant-ID here, through the same guard and authenticator seam the real one uses.
    t = await createTestApp({
      extra: { controllers: [ContextProbeController] },
      override: (builder) =>
        builder.overrideProvider(RequestAuthenticator).useClass(HeaderTenantAuthenticator),
    });
    context = t.app.get(TenantContext);
    const provisioner = t.app.get(TenantProvisionerService);
    for (const [i, label] of ['ctx-a', 'ctx-b'].entries())
      tenants[i] = (await provisioner.create({ name: uniqueName(label) })).id;
  });
  afterAll(() => t.close());

  it('HTTP: 1,000 interleaved requests from two tenants each see only their own tenant and request id', async () => {
    const results = await inBatches(UNITS, 100, async (i) => {
      const expected = unit(i);
      const res = await request(t.url)
        .get('/api/v1/probe/context')
        .set('X-Tenant-ID', expected.tenantId)
        .set('X-Request-ID', expected.requestId);
      expect(res.status).toBe(200);
      expect(res.headers['x-request-id']).toBe(expected.requestId);
      expectOwnContext(res.body as ContextReading, expected);
      return res.body as ContextReading;
    });
    expect(results).toHaveLength(UNITS);
  });

  it("WebSocket: 1,000 interleaved messages on two tenants' sockets each run in their socket's tenant", async () => {
    const wsUrl = t.url.replace('http', 'ws') + '/api/v1/ws';
    const sockets = await Promise.all(
      tenants.map(
        (tenantId) =>
          new Promise<WebSocket>((resolve, reject) => {
            const socket = new WebSocket(wsUrl, { headers: { 'x-tenant-id': tenantId } });
            socket.once('open', () => resolve(socket));
            socket.once('error', reject);
          }),
      ),
    );
    const answers = new Map<
      string,
      { tenant_id: string; request_id: string; transport: string; socket: number }
    >();
    sockets.forEach((socket, index) =>
      socket.on('message', (raw: Buffer) => {
        const message = JSON.parse(raw.toString()) as {
          type: string;
          data: { tenant_id: string; request_id: string; transport: string };
        };
        // `hello` comes first; then one whoami answer per message sent.
        if (message.type === 'whoami')
          answers.set(message.data.request_id, { ...message.data, socket: index });
      }),
    );
    const sent = Array.from({ length: UNITS }, (_, i) => unit(i));
    sent.forEach((expected, i) =>
      sockets[i % 2].send(
        JSON.stringify({ type: 'whoami', data: { request_id: expected.requestId } }),
      ),
    );
    const deadline = Date.now() + 20_000;
    while (answers.size < UNITS && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    sockets.forEach((socket) => socket.close());

    expect(answers.size).toBe(UNITS);
    sent.forEach((expected, i) =>
      expect(answers.get(expected.requestId)).toEqual({
        tenant_id: expected.tenantId,
        request_id: expected.requestId,
        transport: 'ws',
        socket: i % 2,
      }),
    );
  });

  it('WebSocket: an upgrade without valid credentials is refused with 401', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const socket = new WebSocket(t.url.replace('http', 'ws') + '/api/v1/ws');
      socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      socket.once('open', () => reject(new Error('upgrade was accepted')));
      socket.once('error', () => undefined);
    });
    expect(status).toBe(401);
  });

  it('WebSocket: a socket admitted for a tenant that does not exist (any more) is closed 4401, not left waiting for hello', async () => {
    const closed = await new Promise<{ code: number; reason: string; frames: number }>(
      (resolve, reject) => {
        let frames = 0;
        const socket = new WebSocket(t.url.replace('http', 'ws') + '/api/v1/ws', {
          headers: { 'x-tenant-id': randomUUID() },
        });
        socket.on('message', () => frames++);
        socket.once('close', (code, reason) =>
          resolve({ code, reason: reason.toString(), frames }),
        );
        socket.once('error', reject);
      },
    );
    expect(closed).toEqual({ code: 4401, reason: 'tenant deleted', frames: 0 });
  });

  it('Kafka: 1,000 interleaved messages of two tenants are each handled in the tenant and request id their producer had', async () => {
    const kafka = t.app.get(KafkaService);
    const topic = `test.context.${randomUUID()}`;
    await kafka.ensureTopics([topic]);
    const seen = new Map<string, ContextReading & { body_tenant: string }>();
    const poison: string[] = [];
    await kafka.startConsumer<{ tenant: string; request: string }>({
      groupId: `test-context-${randomUUID()}`,
      topics: [topic],
      fromBeginning: true,
      partitionsConsumedConcurrently: 3,
      parse: (value) => JSON.parse(value.toString()) as { tenant: string; request: string },
      handle: async (message) => {
        seen.set(message.body.request, {
          ...(await readAcrossAwait(context)),
          body_tenant: message.body.tenant,
        });
      },
      onPoison: (message) => {
        poison.push(String(message.offset));
        return Promise.resolve();
      },
    });

    const sent = Array.from({ length: UNITS }, (_, i) => unit(i));
    // The producer stamps x-tenant-id / x-request-id from the context it runs in.
    await inBatches(UNITS, 100, (i) =>
      context.run(
        {
          transport: 'internal',
          requestId: sent[i].requestId,
          principal: { tenantId: sent[i].tenantId, isPlatformAdmin: false, via: 'message' },
        },
        () =>
          kafka.send(topic, [
            {
              key: String(i % 7),
              value: JSON.stringify({ tenant: sent[i].tenantId, request: sent[i].requestId }),
            },
          ]),
      ),
    );
    const deadline = Date.now() + 45_000;
    while (seen.size < UNITS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));

    expect(poison).toEqual([]);
    expect(seen.size).toBe(UNITS);
    for (const expected of sent) {
      const { body_tenant, ...reading } = seen.get(expected.requestId)!;
      expect(body_tenant).toBe(expected.tenantId);
      expectOwnContext(reading, expected);
    }
  });

  it('RabbitMQ: 1,000 interleaved messages of two tenants are each handled in their own tenant and request id', async () => {
    const rabbit = t.app.get(RabbitMqService);
    const queue = `test.context.${randomUUID()}`;
    const seen = new Map<string, ContextReading & { body_tenant: string }>();
    await rabbit.addTopology((channel) =>
      channel.assertQueue(queue, { durable: false, autoDelete: true }),
    );
    const consumer = await rabbit.startConsumer<{ tenant: string; request: string }>({
      queue,
      concurrency: 20,
      setup: (channel) => channel.assertQueue(queue, { durable: false, autoDelete: true }),
      parse: (content) => JSON.parse(content.toString()) as { tenant: string; request: string },
      handle: async (message) => {
        seen.set(message.body.request, {
          ...(await readAcrossAwait(context)),
          body_tenant: message.body.tenant,
        });
      },
    });

    const sent = Array.from({ length: UNITS }, (_, i) => unit(i));
    await inBatches(UNITS, 100, (i) =>
      context.run(
        {
          transport: 'internal',
          requestId: sent[i].requestId,
          principal: { tenantId: sent[i].tenantId, isPlatformAdmin: false, via: 'message' },
        },
        () =>
          rabbit.publish(
            '',
            queue,
            Buffer.from(JSON.stringify({ tenant: sent[i].tenantId, request: sent[i].requestId })),
          ),
      ),
    );
    const deadline = Date.now() + 30_000;
    while (seen.size < UNITS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await consumer.stop();

    expect(seen.size).toBe(UNITS);
    for (const expected of sent) {
      const { body_tenant, ...reading } = seen.get(expected.requestId)!;
      expect(body_tenant).toBe(expected.tenantId);
      expectOwnContext(reading, expected);
    }
  });

  it('refuses to read a tenant where none was set', async () => {
    await context.run({ transport: 'internal' }, () => {
      expect(() => context.tenantId).toThrow('No tenant is set');
      return Promise.resolve();
    });
    expect(() => context.tenantId).toThrow('No tenant is set');
  });
});
