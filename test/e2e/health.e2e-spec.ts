import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { RabbitMqService } from '../../src/shared/rabbitmq';
import { TenantContext } from '../../src/shared/tenant-context';
import { createTestApp, type TestApp } from '../support/app';
import { eventually, services } from '../support/services';

type Readiness = {
  status: number;
  body: {
    status: string;
    info?: Record<string, { status: string; latency_ms: number }>;
    error?: Record<string, { status: string; message?: string }>;
  };
};

describe('health', () => {
  let t: TestApp;
  const readiness = async (): Promise<Readiness> => {
    const res = await request(t.url).get('/health/ready');
    return { status: res.status, body: res.body as Readiness['body'] };
  };

  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => {
    await services('up', 'redis', 'rabbitmq');
    await t.close();
  });

  it('liveness answers without touching any dependency', async () => {
    const res = await request(t.url).get('/health/live');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it("readiness lists the five dependencies as up, each with a latency, the process's role and its consumer groups; /health is its alias", async () => {
    const ready = await readiness();
    expect(ready.status).toBe(200);
    const { process: role, kafka_consumers: consumers, ...dependencies } = ready.body.info ?? {};
    expect(Object.keys(dependencies).sort()).toEqual([
      'database',
      'kafka',
      'rabbitmq',
      'redis',
      'secrets_manager',
    ]);
    for (const component of Object.values(dependencies)) {
      expect(component.status).toBe('up');
      expect(typeof component.latency_ms).toBe('number');
    }
    expect(role).toMatchObject({ status: 'up', role: 'all' });
    // The test app starts once its consumers joined: the location groups, each joined.
    expect(consumers).toMatchObject({ status: 'up', joining: 0 });
    const groups = (consumers as unknown as { groups: Record<string, string> }).groups;
    expect(Object.keys(groups).sort()).toEqual(
      ['dlq', 'persister', 'persister.parked', 'streamer'].map(
        (name) => `${process.env.LOCATION_GROUP_PREFIX ?? 'tessera-location'}-${name}`,
      ),
    );
    expect(new Set(Object.values(groups))).toEqual(new Set(['joined']));
    const alias = await request(t.url).get('/health');
    expect(alias.status).toBe(200);
    expect(alias.body.status).toBe('ok');
  });

  it('turns 503 naming Redis while Redis is stopped, and 200 again after it restarts, without an app restart', async () => {
    await services('down', 'redis');
    try {
      const down = await eventually(readiness, (r) => r.status === 503, 15_000);
      expect(down.status).toBe(503);
      expect(Object.keys(down.body.error ?? {})).toEqual(['redis']);
    } finally {
      await services('up', 'redis');
    }
    const up = await eventually(readiness, (r) => r.status === 200, 20_000);
    expect(up.status).toBe(200);
  });

  it('turns 503 naming RabbitMQ while it is stopped; after restart it is ready and consumers resume on replayed topology', async () => {
    const rabbit = t.app.get(RabbitMqService);
    const context = t.app.get(TenantContext);
    const queue = `test.health.${randomUUID()}`;
    const tenantId = randomUUID();
    const received: string[] = [];
    // A durable queue declared through the topology hook; the restart wipes nothing durable, but the
    // consumer's channel must be re-opened and re-consumed by the connection manager.
    const declare = (channel: { assertQueue: (q: string, o: object) => Promise<unknown> }) =>
      channel.assertQueue(queue, { durable: true, arguments: { 'x-expires': 120_000 } });
    await rabbit.addTopology(declare);
    await rabbit.startConsumer<{ n: string }>({
      queue,
      concurrency: 2,
      setup: declare,
      parse: (content) => JSON.parse(content.toString()) as { n: string },
      handle: (message) => {
        received.push(message.body.n);
        return Promise.resolve();
      },
    });
    const publish = (n: string) =>
      context.run(
        { transport: 'internal', principal: { tenantId, isPlatformAdmin: false, via: 'message' } },
        () => rabbit.publish('', queue, Buffer.from(JSON.stringify({ n }))),
      );
    await publish('before');
    await eventually(
      () => Promise.resolve(received.length),
      (n) => n === 1,
      10_000,
    );

    await services('down', 'rabbitmq');
    try {
      const down = await eventually(readiness, (r) => r.status === 503, 20_000);
      expect(down.status).toBe(503);
      expect(Object.keys(down.body.error ?? {})).toEqual(['rabbitmq']);
    } finally {
      await services('up', 'rabbitmq');
    }
    const up = await eventually(readiness, (r) => r.status === 200, 60_000);
    expect(up.status).toBe(200);

    await publish('after');
    await eventually(
      () => Promise.resolve(received.length),
      (n) => n === 2,
      20_000,
    );
    expect(received).toEqual(['before', 'after']);
  });
});
