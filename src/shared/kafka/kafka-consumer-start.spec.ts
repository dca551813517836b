import { Logger } from '@nestjs/common';
import { EventEmitter } from 'node:events';
import type { Kafka } from 'kafkajs';
import type { TenantContext } from '../tenant-context';
import { KafkaConsumerRunner } from './kafka-consumer';

/**
 * A kafkajs consumer stand-in: `connect` fails as scripted, `run` joins (GROUP_JOIN) at once.
 * Only the start's control flow is under test here; the e2e files run the real broker.
 */
function fakeKafka(connectFailures: Error[]) {
  const emitter = new EventEmitter();
  const calls = { connect: 0, run: 0, disconnect: 0 };
  // A join that waits for a rebalance: `run` and kafkajs's `disconnect` answer only after it.
  let joinPending: Promise<void> | null = null;
  let options: { retry?: { restartOnFailure?: (e: Error) => Promise<boolean> } } = {};
  const consumer = {
    events: { CRASH: 'crash', GROUP_JOIN: 'group_join' },
    on: (event: string, listener: (payload: unknown) => void) => emitter.on(event, listener),
    connect: () => {
      calls.connect++;
      const failure = connectFailures.shift();
      return failure ? Promise.reject(failure) : Promise.resolve();
    },
    subscribe: () => Promise.resolve(),
    run: () => {
      calls.run++;
      if (joinPending) return joinPending;
      emitter.emit('group_join', { payload: {} });
      return Promise.resolve();
    },
    disconnect: () => {
      calls.disconnect++;
      return joinPending ?? Promise.resolve();
    },
  };
  const kafka = {
    consumer: (given: typeof options) => {
      options = given;
      return consumer;
    },
  } as unknown as Kafka;
  const crash = (restart: boolean) =>
    emitter.emit('crash', { payload: { error: new Error('gave up'), restart } });
  const joinNever = () => {
    joinPending = new Promise<void>(() => undefined);
  };
  return {
    kafka,
    calls,
    crash,
    joinNever,
    restartOnFailure: () => options.retry!.restartOnFailure!,
  };
}

function runner(kafka: Kafka) {
  return new KafkaConsumerRunner(kafka, {} as TenantContext, {
    groupId: 'test-group',
    topics: ['test.topic'],
    parse: (value) => value.toString(),
    handle: () => Promise.resolve(),
    onPoison: () => Promise.resolve(),
  });
}

const refused = () =>
  Object.assign(new Error('connect ECONNREFUSED'), { name: 'KafkaJSConnectionError' });

describe('KafkaConsumerRunner start: in the background, retried until it joins', () => {
  let warn: jest.SpyInstance;
  // The backoff waits run on fake timers: the test advances them instead of sleeping.
  const elapse = (ms: number) => jest.advanceTimersByTimeAsync(ms);
  beforeEach(() => {
    jest.useFakeTimers();
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => {
    warn.mockRestore();
    jest.useRealTimers();
  });

  it('returns at once, retries a failing connection with backoff and logs each kind of failure once', async () => {
    const fake = fakeKafka([refused(), refused(), new Error('coordinator moving')]);
    const consumer = runner(fake.kafka);
    consumer.start();
    expect(consumer.state.status).toBe('starting');
    expect(consumer.state.joinedAt).toBeNull();
    await elapse(499);
    expect(fake.calls.connect).toBe(1);
    await elapse(3_001);
    await consumer.joined();
    expect(fake.calls).toMatchObject({ connect: 4, run: 1, disconnect: 3 });
    expect(consumer.state.status).toBe('running');
    expect(consumer.state.joinedAt).toBeInstanceOf(Date);
    // Two refusals (one line), then another kind of failure (a second line), each with the wait
    // before the next attempt (0.5 s doubling).
    expect(warn.mock.calls.map(([fields]) => fields as object)).toEqual([
      expect.objectContaining({ attempt: 1, retryInMs: 500 }),
      expect.objectContaining({ attempt: 3, retryInMs: 2_000 }),
    ]);
    await consumer.stop();
  });

  it('stops while waiting to retry: no attempt after stop, and kafkajs may not restart it', async () => {
    const fake = fakeKafka([refused(), refused()]);
    const consumer = runner(fake.kafka);
    consumer.start();
    await elapse(50);
    expect(fake.calls.connect).toBe(1);
    await consumer.stop();
    expect(consumer.state.status).toBe('stopped');
    await elapse(60_000);
    expect(fake.calls.connect).toBe(1);
    expect(await fake.restartOnFailure()(new Error('late'))).toBe(false);
  });

  it('stops while its join waits for a rebalance: within 3 s, not when the join is answered', async () => {
    const fake = fakeKafka([]);
    fake.joinNever();
    const consumer = runner(fake.kafka);
    consumer.start();
    await elapse(10);
    expect(fake.calls.run).toBe(1);
    let stopped = false;
    const stopping = consumer.stop().then(() => (stopped = true));
    await elapse(2_999);
    expect(stopped).toBe(false);
    await elapse(1);
    await stopping;
    expect(consumer.state.status).toBe('stopped');
  });

  it('starts again after a crash kafkajs gave up on, and not after one it restarts itself', async () => {
    const fake = fakeKafka([]);
    const consumer = runner(fake.kafka);
    consumer.start();
    await consumer.joined();
    expect(fake.calls.run).toBe(1);
    fake.crash(true);
    expect(consumer.state.status).toBe('starting');
    await elapse(60_000);
    expect(fake.calls.run).toBe(1);
    fake.crash(false);
    expect(consumer.state.status).toBe('crashed');
    await elapse(499);
    expect(fake.calls.run).toBe(1);
    await elapse(1);
    expect(fake.calls.run).toBe(2);
    expect(consumer.state.status).toBe('running');
    await consumer.stop();
  });
});
