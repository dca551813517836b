import { randomUUID } from 'node:crypto';
import { register } from 'prom-client';
import { handleByTenant, KafkaService } from '../../src/shared/kafka';
import { TenantContext } from '../../src/shared/tenant-context';
import { createTestApp, type TestApp } from '../support/app';
import { eventually } from '../support/services';

describe('Kafka consumer helper: handler errors never commit an offset silently', () => {
  let t: TestApp;
  let kafka: KafkaService;
  let context: TenantContext;
  const tenantId = randomUUID();

  beforeAll(async () => {
    t = await createTestApp();
    kafka = t.app.get(KafkaService);
    context = t.app.get(TenantContext);
  });
  afterAll(() => t.close());

  const asTenant = <T>(work: () => Promise<T>) =>
    context.run(
      { transport: 'internal', principal: { tenantId, isPlatformAdmin: false, via: 'message' } },
      work,
    );

  async function committedOffset(groupId: string, topic: string): Promise<number> {
    const admin = kafka.kafka.admin();
    await admin.connect();
    try {
      const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
      return entry.partitions.reduce((sum, p) => sum + Math.max(Number(p.offset), 0), 0);
    } finally {
      await admin.disconnect();
    }
  }

  it('retries a failing message, hands it to onPoison, and moves on; a message with no tenant is poison at once', async () => {
    const topic = `test.consumer.${randomUUID()}`;
    const groupId = `test-consumer-${randomUUID()}`;
    await kafka.ensureTopics([topic]);
    const attempts = new Map<string, number>();
    const handled: string[] = [];
    const poisoned: Array<{ value: string; error: string }> = [];
    await kafka.startConsumer<{ n: string }>({
      groupId,
      topics: [topic],
      fromBeginning: true,
      attempts: 3,
      parse: (value) => JSON.parse(value.toString()) as { n: string },
      handle: (message) => {
        attempts.set(message.body.n, (attempts.get(message.body.n) ?? 0) + 1);
        if (message.body.n === 'bad') return Promise.reject(new Error('downstream said no'));
        handled.push(message.body.n);
        return Promise.resolve();
      },
      onPoison: (message, error) => {
        poisoned.push({ value: message.value?.toString() ?? '', error: error.message });
        return Promise.resolve();
      },
    });
    // One partition key: the three messages keep their order.
    await asTenant(() =>
      kafka.send(topic, [
        { key: 'k', value: JSON.stringify({ n: 'first' }) },
        { key: 'k', value: JSON.stringify({ n: 'bad' }) },
        { key: 'k', value: JSON.stringify({ n: 'after' }) },
      ]),
    );
    await kafka.send(topic, [{ key: 'k', value: JSON.stringify({ n: 'no-tenant' }) }]); // outside any context

    await eventually(
      () => Promise.resolve(handled.length + poisoned.length),
      (n) => n === 4,
      30_000,
    );
    expect(handled).toEqual(['first', 'after']);
    expect(attempts.get('bad')).toBe(3);
    expect(poisoned).toEqual([
      { value: JSON.stringify({ n: 'bad' }), error: 'downstream said no' },
      { value: JSON.stringify({ n: 'no-tenant' }), error: 'missing or invalid x-tenant-id header' },
    ]);
    const committed = await eventually(
      () => committedOffset(groupId, topic),
      (n) => n === 4,
      15_000,
    );
    expect(committed).toBe(4);
  });

  it('commits nothing while the poison path itself fails, and delivers the message again', async () => {
    const topic = `test.consumer.${randomUUID()}`;
    const groupId = `test-consumer-${randomUUID()}`;
    await kafka.ensureTopics([topic]);
    let poisonCalls = 0;
    const parked: string[] = [];
    await kafka.startConsumer<{ n: string }>({
      groupId,
      topics: [topic],
      fromBeginning: true,
      attempts: 1,
      parse: (value) => JSON.parse(value.toString()) as { n: string },
      handle: () => Promise.reject(new Error('always fails')),
      onPoison: (message) => {
        poisonCalls++;
        // The dead-letter path is down for the first two tries.
        if (poisonCalls <= 2) return Promise.reject(new Error('dead-letter topic unavailable'));
        parked.push(message.value?.toString() ?? '');
        return Promise.resolve();
      },
    });
    await asTenant(() =>
      kafka.send(topic, [{ key: 'k', value: JSON.stringify({ n: 'precious' }) }]),
    );

    await eventually(
      () => Promise.resolve(parked.length),
      (n) => n === 1,
      60_000,
    );
    expect(poisonCalls).toBe(3);
    expect(parked).toEqual([JSON.stringify({ n: 'precious' })]);
    const committed = await eventually(
      () => committedOffset(groupId, topic),
      (n) => n === 1,
      15_000,
    );
    expect(committed).toBe(1);
  });

  it('heartbeats during a long handler: a message whose attempts outlast the session timeout is handled once, not again after an eviction (issue 7, item 7)', async () => {
    const topic = `test.consumer.${randomUUID()}`;
    const groupId = `test-consumer-${randomUUID()}`;
    await kafka.ensureTopics([topic]);
    const calls: string[] = [];
    const handled: string[] = [];
    await kafka.startConsumer<{ n: string }>({
      groupId,
      topics: [topic],
      fromBeginning: true,
      attempts: 3,
      sessionTimeoutMs: 6_000,
      parse: (value) => JSON.parse(value.toString()) as { n: string },
      handle: async (message) => {
        calls.push(message.body.n);
        if (message.body.n === 'slow' && calls.filter((n) => n === 'slow').length < 3) {
          // Two slow failures: together past the 6 s session timeout.
          await new Promise((r) => setTimeout(r, 4_000));
          throw new Error('slow downstream');
        }
        handled.push(message.body.n);
      },
      onPoison: () => Promise.resolve(),
    });
    await asTenant(() =>
      kafka.send(topic, [
        { key: 'k', value: JSON.stringify({ n: 'slow' }) },
        { key: 'k', value: JSON.stringify({ n: 'next' }) },
      ]),
    );
    await eventually(
      () => Promise.resolve(handled.length),
      (n) => n >= 2,
      60_000,
    );
    const committed = await eventually(
      () => committedOffset(groupId, topic),
      (n) => n === 2,
      15_000,
    );
    // Give an evicted member's redelivery the time to show up, then count.
    await new Promise((r) => setTimeout(r, 3_000));
    console.log(`long handler: calls=${JSON.stringify(calls)} committed=${committed}`);
    expect(calls).toEqual(['slow', 'slow', 'slow', 'next']);
    expect(committed).toBe(2);
  }, 90_000);

  it('park mode: a failing tenant is parked after its attempts while the others go on, and is resumed in order once it recovers', async () => {
    const topic = `test.consumer.${randomUUID()}`;
    const groupId = `test-consumer-${randomUUID()}`;
    await kafka.ensureTopics([topic]);
    const healthy = randomUUID();
    const broken = randomUUID();
    let down = true;
    const calls = new Map<string, number>();
    const handled: string[] = [];
    const runner = await kafka.startConsumer<{ n: string }>({
      groupId,
      topics: [topic],
      fromBeginning: true,
      attempts: 3,
      onExhausted: 'park',
      parse: (value) => JSON.parse(value.toString()) as { n: string },
      handleBatch: (messages) =>
        handleByTenant(messages, (tenant, own) => {
          calls.set(tenant, (calls.get(tenant) ?? 0) + 1);
          if (tenant === broken && down) return Promise.reject(new Error('database down'));
          for (const message of own)
            handled.push(`${tenant === healthy ? 'H' : 'B'}${message.body.n}`);
          return Promise.resolve();
        }),
      onPoison: () => Promise.resolve(),
    });
    const as = (tenant: string, from: number, to: number) =>
      context.run(
        {
          transport: 'internal',
          principal: { tenantId: tenant, isPlatformAdmin: false, via: 'message' },
        },
        () =>
          kafka.send(
            topic,
            Array.from({ length: to - from + 1 }, (_, i) => ({
              key: 'one-key', // one partition, one order for both tenants
              value: JSON.stringify({ n: String(from + i) }),
            })),
          ),
      );
    const of = (prefix: string) => handled.filter((entry) => entry.startsWith(prefix));
    await as(broken, 1, 5);
    await as(healthy, 1, 5);
    await eventually(
      () => Promise.resolve(of('H').length),
      (n) => n === 5,
      30_000,
    );
    // More of both while the broken tenant is parked: the healthy one goes straight on.
    await as(broken, 6, 10);
    await as(healthy, 6, 10);
    await eventually(
      () => Promise.resolve(of('H').length),
      (n) => n === 10,
      30_000,
    );
    expect(of('B')).toEqual([]);
    expect(runner.state.parkedTenants).toBe(1);
    expect(runner.state.parkedRecords).toBe(10);
    const directCalls = calls.get(broken);

    down = false;
    await eventually(
      () => Promise.resolve(of('B').length),
      (n) => n === 10,
      60_000,
    );
    await eventually(
      () => Promise.resolve(runner.state.parkedTenants),
      (n) => n === 0,
      30_000,
    );
    // Resumed: new records of the recovered tenant are handled directly, after the parked ones.
    await as(broken, 11, 15);
    await eventually(
      () => Promise.resolve(of('B').length),
      (n) => n === 15,
      30_000,
    );
    console.log(
      `park: handled ${JSON.stringify(handled)}, parked ${runner.state.parkedRecords}, calls for the broken tenant ${calls.get(broken)} (${directCalls} before it recovered)`,
    );
    expect(of('H')).toEqual(Array.from({ length: 10 }, (_, i) => `H${i + 1}`));
    expect(of('B')).toEqual(Array.from({ length: 15 }, (_, i) => `B${i + 1}`));
    expect(runner.state.parkedRecords).toBe(10);
    const committed = await eventually(
      () => committedOffset(groupId, topic),
      (n) => n === 25,
      15_000,
    );
    expect(committed).toBe(25);
  }, 120_000);

  it('a failed produce replaces the idempotent producer (new id, new sequences); every later send lands once', async () => {
    const topic = `test.renewal.${randomUUID()}`;
    await kafka.ensureTopics([topic]);
    const renewals = async () => {
      const metric = await register.getSingleMetric('tessera_kafka_producer_renewals_total')?.get();
      return metric?.values[0]?.value ?? 0;
    };
    const before = await renewals();
    // Refused by the broker (larger than its message.max.bytes): a real produce failure.
    const tooLarge = 'x'.repeat(2 * 1024 * 1024);
    await expect(
      asTenant(() => kafka.send(topic, [{ key: 'k', value: tooLarge }])),
    ).rejects.toThrow();
    expect(await renewals()).toBe(before + 1);
    // Batches of one, as the batch the failure took back would have been.
    const sent: string[] = [];
    for (let i = 0; i < 5; i++) {
      const value = `after-${i}`;
      await asTenant(() => kafka.send(topic, [{ key: 'k', value }]));
      sent.push(value);
    }
    const seen: string[] = [];
    await kafka.startConsumer<string>({
      groupId: `test-renewal-${randomUUID()}`,
      topics: [topic],
      fromBeginning: true,
      parse: (value) => value.toString(),
      handle: (message) => {
        seen.push(message.body);
        return Promise.resolve();
      },
      onPoison: () => Promise.reject(new Error('nothing here is poison')),
    });
    await eventually(
      () => Promise.resolve(seen.length),
      (n) => n >= sent.length,
      30_000,
    );
    console.log(
      `producer renewals ${before} → ${await renewals()}; sent after ${sent.length}, consumed ${seen.length}`,
    );
    expect(seen).toEqual(sent);
  });

  it("stamps the context's tenant last and refuses a caller header naming another tenant (issue 7, item 12)", async () => {
    const topic = `test.consumer.${randomUUID()}`;
    const groupId = `test-consumer-${randomUUID()}`;
    await kafka.ensureTopics([topic]);
    const other = randomUUID();
    await expect(
      asTenant(() =>
        kafka.send(topic, [
          { key: 'k', value: JSON.stringify({ n: 'forged' }), headers: { 'x-tenant-id': other } },
        ]),
      ),
    ).rejects.toThrow(/x-tenant-id/);
    const seen: Array<{ n: string; tenant: string }> = [];
    await kafka.startConsumer<{ n: string }>({
      groupId,
      topics: [topic],
      fromBeginning: true,
      parse: (value) => JSON.parse(value.toString()) as { n: string },
      handle: (message) => {
        seen.push({ n: message.body.n, tenant: message.tenantId });
        return Promise.resolve();
      },
      onPoison: () => Promise.resolve(),
    });
    await asTenant(() =>
      kafka.send(topic, [
        { key: 'k', value: JSON.stringify({ n: 'same' }), headers: { 'x-tenant-id': tenantId } },
        { key: 'k', value: JSON.stringify({ n: 'plain' }), headers: { 'x-event-id': 'e1' } },
      ]),
    );
    await eventually(
      () => Promise.resolve(seen.length),
      (n) => n >= 2,
      30_000,
    );
    expect(seen).toEqual([
      { n: 'same', tenant: tenantId },
      { n: 'plain', tenant: tenantId },
    ]);
  });
});
