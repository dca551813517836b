import amqplib from 'amqplib';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { promisify } from 'node:util';
import { RabbitMqService } from '../../src/shared/rabbitmq';
import { TENANT_HEADER, TenantContext } from '../../src/shared/tenant-context';
import { createTestApp, type TestApp } from '../support/app';
import { eventually } from '../support/services';

const BROKER = process.env.RABBITMQ_URL!;
const run = promisify(execFile);

/** A TCP proxy in front of RabbitMQ that the test can cut (every open socket destroyed). */
async function brokerProxy(): Promise<{ url: string; cut(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(5672, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `amqp://guest:guest@127.0.0.1:${port}${new URL(BROKER).pathname}`,
    cut: () => sockets.forEach((s) => s.destroy()),
    close: () =>
      new Promise((done) => {
        sockets.forEach((s) => s.destroy());
        server.close(() => done());
      }),
  };
}

async function queueCounts(queue: string): Promise<{ ready: number; unacked: number }> {
  const { stdout } = await run('rabbitmqctl', [
    '-q',
    'list_queues',
    '-p',
    decodeURIComponent(new URL(BROKER).pathname.slice(1)) || '/',
    'name',
    'messages_ready',
    'messages_unacknowledged',
  ]);
  const line = stdout.split('\n').find((l) => l.startsWith(`${queue}\t`));
  const [, ready, unacked] = (line ?? `${queue}\t-1\t-1`).split('\t');
  return { ready: Number(ready), unacked: Number(unacked) };
}

function gate(): { wait: Promise<void>; open(): void } {
  let open!: () => void;
  const wait = new Promise<void>((done) => (open = done));
  return { wait, open };
}

describe('RabbitMQ consumers across reconnects', () => {
  let t: TestApp;
  let context: TenantContext;
  let broker: amqplib.ChannelModel;
  let admin: amqplib.Channel;

  beforeAll(async () => {
    t = await createTestApp();
    context = t.app.get(TenantContext);
    broker = await amqplib.connect(BROKER);
    admin = await broker.createChannel();
  });
  afterAll(async () => {
    await broker.close().catch(() => undefined);
    await t.close();
  });

  it('settles a delivery only on the channel it came on: cut twice with handlers in flight, 0 lost, 0 acked by mistake, no 406', async () => {
    const proxy = await brokerProxy();
    const rabbit = new RabbitMqService({ url: proxy.url, heartbeatSeconds: 5 }, context, {
      consumerChannels: 2,
    });
    const queue = `test.reconnect.${randomUUID()}`;
    const tenantId = randomUUID();
    const declare = (channel: amqplib.Channel) =>
      channel.assertQueue(queue, { durable: true, arguments: { 'x-expires': 120_000 } });
    await declare(admin);
    const MESSAGES = 3;
    let phase = 'A';
    const gates: Record<string, ReturnType<typeof gate>> = { A: gate(), B: gate(), C: gate() };
    const started: Array<{ id: string; phase: string }> = [];
    const finished: Array<{ id: string; phase: string }> = [];
    let disconnects = 0;
    rabbit.connection.on('disconnect', () => disconnects++);
    try {
      await rabbit.onModuleInit();
      const consumer = await rabbit.startConsumer<{ id: string }>({
        queue,
        concurrency: MESSAGES,
        setup: declare,
        parse: (content) => JSON.parse(content.toString()) as { id: string },
        handle: async (message) => {
          const mine = phase;
          started.push({ id: message.body.id, phase: mine });
          await gates[mine].wait;
          finished.push({ id: message.body.id, phase: mine });
        },
      });
      const ids = Array.from({ length: MESSAGES }, (_, i) => `m${i}`);
      for (const id of ids) {
        admin.sendToQueue(queue, Buffer.from(JSON.stringify({ id })), {
          persistent: true,
          headers: { [TENANT_HEADER]: tenantId },
        });
      }
      const inPhase = (p: string) => started.filter((s) => s.phase === p).length;
      await eventually(
        () => Promise.resolve(inPhase('A')),
        (n) => n === MESSAGES,
        10_000,
      );

      // Cut 1: A's deliveries return to the queue and come again on channel B.
      phase = 'B';
      proxy.cut();
      await eventually(
        () => Promise.resolve(inPhase('B')),
        (n) => n === MESSAGES,
        20_000,
      );
      // A's handlers finish now: their acks must not touch B's deliveries (same tags 1..3).
      gates.A.open();
      await eventually(
        () => Promise.resolve(finished.filter((f) => f.phase === 'A').length),
        (n) => n === MESSAGES,
        5_000,
      );
      await new Promise((r) => setImmediate(r));
      const afterStaleAcks = await queueCounts(queue);
      const ackedByMistake = MESSAGES - afterStaleAcks.unacked;

      // Cut 2: whatever B still holds unacked comes again on channel C; a message acked by
      // mistake on B never does (lost).
      phase = 'C';
      proxy.cut();
      await eventually(
        () => Promise.resolve(inPhase('C')),
        (n) => n === MESSAGES,
        20_000,
      );
      gates.B.open();
      gates.C.open();
      await eventually(
        () => Promise.resolve(finished.filter((f) => f.phase === 'C').length),
        (n) => n === MESSAGES,
        10_000,
      );
      const drained = await eventually(
        () => queueCounts(queue),
        (c) => c.ready === 0 && c.unacked === 0,
        10_000,
      );
      const seenInC = new Set(started.filter((s) => s.phase === 'C').map((s) => s.id));
      const lost = ids.filter((id) => !seenInC.has(id)).length;
      const channelErrors = (
        rabbit as unknown as { consumerChannels: Array<{ channelErrors: number }> }
      ).consumerChannels.reduce((sum, c) => sum + c.channelErrors, 0);
      console.log(
        `reconnect: messages ${MESSAGES}, lost ${lost}, acked by mistake ${ackedByMistake}, ` +
          `channel errors (406) ${channelErrors}, stale settles skipped ${consumer.skippedSettles}, disconnects ${disconnects}`,
      );
      expect(ackedByMistake).toBe(0);
      expect(lost).toBe(0);
      expect(channelErrors).toBe(0);
      expect(drained).toEqual({ ready: 0, unacked: 0 });
      expect(disconnects).toBe(2);
    } finally {
      Object.values(gates).forEach((g) => g.open());
      await rabbit.onApplicationShutdown().catch(() => undefined);
      await proxy.close();
      await admin.deleteQueue(queue).catch(() => undefined);
    }
  });

  it('many queues share a few channels; per-queue concurrency is enforced by the app', async () => {
    const rabbit = t.app.get(RabbitMqService);
    const before = rabbit.stats();
    const queues = Array.from({ length: 20 }, () => `test.shared.${randomUUID()}`);
    const running = new Map<string, number>();
    const peak = new Map<string, number>();
    const done = new Map<string, number>();
    const consumers = await Promise.all(
      queues.map((queue, i) =>
        rabbit.startConsumer<string>({
          queue,
          concurrency: 1 + (i % 3),
          setup: (channel) => channel.assertQueue(queue, { durable: false, autoDelete: true }),
          parse: (content) => content.toString(),
          handle: async () => {
            running.set(queue, (running.get(queue) ?? 0) + 1);
            peak.set(queue, Math.max(peak.get(queue) ?? 0, running.get(queue)!));
            await new Promise((r) => setTimeout(r, 20));
            running.set(queue, running.get(queue)! - 1);
            done.set(queue, (done.get(queue) ?? 0) + 1);
          },
        }),
      ),
    );
    const tenantId = randomUUID();
    for (const queue of queues) {
      for (let n = 0; n < 10; n++) {
        admin.sendToQueue(queue, Buffer.from('"x"'), { headers: { [TENANT_HEADER]: tenantId } });
      }
    }
    await eventually(
      () => Promise.resolve([...done.values()].reduce((a, b) => a + b, 0)),
      (n) => n === 200,
      30_000,
    );
    const after = rabbit.stats();
    await Promise.all(consumers.map((c) => c.stop()));
    console.log(
      `shared channels: ${queues.length} queues on ${after.consumerChannels} consumer channels (before: ${before.consumerChannels})`,
    );
    expect(after.consumerChannels).toBeLessThanOrEqual(4);
    queues.forEach((queue, i) => expect(peak.get(queue)).toBeLessThanOrEqual(1 + (i % 3)));
  });

  it("stamps the context's tenant last and refuses a caller header naming another tenant", async () => {
    const rabbit = t.app.get(RabbitMqService);
    const queue = `test.stamp.${randomUUID()}`;
    await admin.assertQueue(queue, { durable: false, autoDelete: false });
    const tenantId = randomUUID();
    const other = randomUUID();
    const asTenant = <R>(work: () => Promise<R>) =>
      context.run(
        { transport: 'internal', principal: { tenantId, isPlatformAdmin: false, via: 'message' } },
        work,
      );
    try {
      await expect(
        asTenant(() =>
          rabbit.publish('', queue, Buffer.from('"forged"'), {
            headers: { [TENANT_HEADER]: other },
          }),
        ),
      ).rejects.toMatchObject({ status: 403 });
      await asTenant(() =>
        rabbit.publish('', queue, Buffer.from('"own"'), { headers: { [TENANT_HEADER]: tenantId } }),
      );
      await asTenant(() => rabbit.publish('', queue, Buffer.from('"plain"')));
      const got: Array<{ body: string; tenant: unknown }> = [];
      for (;;) {
        const message = await admin.get(queue, { noAck: true });
        if (!message) break;
        got.push({
          body: message.content.toString(),
          tenant: message.properties.headers?.[TENANT_HEADER],
        });
      }
      expect(got).toEqual([
        { body: '"own"', tenant: tenantId },
        { body: '"plain"', tenant: tenantId },
      ]);
    } finally {
      await admin.deleteQueue(queue).catch(() => undefined);
    }
  });
});
