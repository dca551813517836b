import { Logger } from '@nestjs/common';
import type { Batch, Consumer, IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import { z } from 'zod';
import { AppError } from '../errors';
import { REQUEST_ID_HEADER, TENANT_HEADER, type TenantContext } from '../tenant-context';
import { KafkaParking } from './kafka-parking';
import { inBatchSpans, inConsumerSpan } from './kafka-tracing';

export interface InboundMessage<T> {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  headers: Record<string, string>;
  tenantId: string;
  body: T;
  /** kafkajs's heartbeat: call it inside work that may outlast the session timeout. */
  heartbeat: () => Promise<void>;
}

export type RawMessage = KafkaMessage & { topic: string; partition: number };

/**
 * What a batch handler may answer: the messages (the same objects it was given) that failed,
 * each with its error; every other message succeeded. Answering per tenant (every message of a
 * failing tenant) keeps each key's order; `handleByTenant` does that.
 */
export interface BatchOutcome<T> {
  failed: Array<{ message: InboundMessage<T>; error: Error }>;
}

export interface ConsumerOptions<T> {
  groupId: string;
  topics: string[];
  fromBeginning?: boolean;
  /** Parses the message value; a failure is poison at once (never retried). */
  parse: (value: Buffer) => T;
  /** Runs inside the message's tenant context. Give this or `handleBatch`. */
  handle?: (message: InboundMessage<T>) => Promise<void>;
  /** The name of each record's span (tracing on); `process <topic>` by default. */
  spanName?: string;
  /**
   * Batch mode: every well-formed message of one fetched partition batch at once (several
   * tenants; no tenant context is open — use each message's `tenantId`). It may answer a
   * `BatchOutcome` (which messages failed); a throw fails every message it was given. Only
   * failed messages are tried again, one call per tenant, so a healthy tenant never waits for
   * another's retries. Still failing after `attempts`: `poison` tries each message alone (one bad
   * record cannot hold the rest), `park` parks the tenant, `retry` goes on.
   */
  handleBatch?: (messages: InboundMessage<T>[]) => Promise<void | BatchOutcome<T>>;
  /**
   * Where a message goes when it cannot be handled: no valid tenant header, unparsable, or
   * still failing after `attempts`. Its offset is committed only after this returns; if it
   * throws, nothing from it on is committed and kafkajs redelivers.
   */
  onPoison: (message: RawMessage, error: Error) => Promise<void>;
  /** In-process attempts of `handle` before a message counts as poison. */
  attempts?: number;
  /**
   * `poison` (default): after `attempts`, `onPoison`. `retry`: keep retrying with capped backoff
   * (the partition waits). `park` (batch mode): the failing tenant's records go to the park
   * topic (`<first topic>.parked`), and so do its later ones until they are all handled there;
   * a resume consumer (group `<groupId>.parked`) runs the same handler on them, retrying each
   * tenant with capped backoff until it succeeds — for work that must never be skipped but
   * must not let one tenant hold the others (e.g. persisting into tenant databases). Errors
   * for which `isPermanent` answers true go to `onPoison` at once in every mode.
   */
  onExhausted?: 'poison' | 'retry' | 'park';
  /**
   * `park` mode: the park topic and the resume group (defaults above), and the park topic's
   * replication factor when it is created (`KafkaService` passes `KAFKA_REPLICATION_FACTOR`).
   */
  park?: { topic?: string; groupId?: string; replicationFactor?: number };
  /** Commit after this many resolved offsets at once (kafkajs `autoCommitThreshold`). */
  autoCommitThreshold?: number;
  isPermanent?: (error: Error) => boolean;
  /**
   * Handlers in flight at once per partition batch. Messages with the same key stay in order;
   * offsets are committed only up to the lowest message not yet settled. Default 1 (in order).
   */
  concurrency?: number;
  partitionsConsumedConcurrently?: number;
  /** kafkajs's group timings; `KafkaService` passes the `KAFKA_CONSUMER_*` settings. */
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  rebalanceTimeoutMs?: number;
}

export interface ConsumerState {
  groupId: string;
  topics: string[];
  /**
   * starting: connecting or joining the group (again, after a crash); running: a member of the
   * group; crashed: kafkajs gave up, a new start follows after a backoff; stopped.
   */
  status: 'starting' | 'running' | 'stopped' | 'crashed';
  /** When it last joined its group. */
  joinedAt: Date | null;
  lastBatchAt: Date | null;
  lastError: string | null;
  /** `park` mode: tenants parked now, and records parked since start. */
  parkedTenants?: number;
  parkedRecords?: number;
}

const tenantIdSchema = z.uuid();

function headersToStrings(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) out[name] = first.toString();
  }
  return out;
}

type Parsed<T> =
  | { ok: true; raw: RawMessage; inbound: InboundMessage<T> }
  | { ok: false; raw: RawMessage; error: Error };

class StoppedError extends Error {}

/** A well-formed message of a batch and its index there. */
interface Good<T> {
  inbound: InboundMessage<T>;
  raw: RawMessage;
  index: number;
}
type Failed<T> = Good<T> & { error: Error };

const byIndex = (a: { index: number }, b: { index: number }) => a.index - b.index;

/** How long `stop()` waits, at most, for a consumer that has not joined yet. */
const STOP_WAIT_MS = 3_000;
/** How long a resuming tenant's next records wait for its last parked ones to be handled. */
const DRAIN_WAIT_MS = 1_000;
const TENANT_PARKED = new Error('tenant parked: following its parked records');

function groupByTenant<M extends { inbound: { tenantId: string } }>(messages: M[]): M[][] {
  const groups = new Map<string, M[]>();
  for (const message of messages) {
    const group = groups.get(message.inbound.tenantId);
    if (group) group.push(message);
    else groups.set(message.inbound.tenantId, [message]);
  }
  return [...groups.values()];
}

/**
 * A kafkajs consumer that opens the tenant context from `x-tenant-id` / `x-request-id` and
 * commits an offset only once its message was handled or handed to `onPoison` (Nest's Kafka
 * transport rethrows into kafkajs, so one poison message would block its partition forever).
 * It consumes in batches: handlers of different keys may run at once (`concurrency`), the
 * offset committed per partition is the lowest unsettled one, and it heartbeats while
 * handlers run, so long retries never get the member evicted (and the partition handled twice).
 */
export class KafkaConsumerRunner<T = unknown> {
  private readonly logger: Logger;
  private readonly consumer: Consumer;
  private stopped = false;
  /** The background start (connect, subscribe, join) while one runs. */
  private starting: Promise<void> | null = null;
  /** Aborts a start's backoff wait at stop. */
  private readonly stopping = new AbortController();
  private readonly firstJoin: { promise: Promise<void>; resolve: () => void };
  private readonly stateValue: ConsumerState;
  private readonly parking: KafkaParking | null = null;
  /** `park` mode: the consumer of the park topic. */
  private readonly resumer: KafkaConsumerRunner<T> | null = null;

  constructor(
    kafka: Kafka,
    private readonly context: TenantContext,
    private readonly options: ConsumerOptions<T>,
  ) {
    if (!options.handle && !options.handleBatch) {
      throw new Error('A consumer needs handle or handleBatch');
    }
    if (options.onExhausted === 'park') {
      if (!options.handleBatch) throw new Error('onExhausted: park needs handleBatch');
      const topic = options.park?.topic ?? `${options.topics[0]}.parked`;
      const groupId = options.park?.groupId ?? `${options.groupId}.parked`;
      this.parking = new KafkaParking(kafka, topic, groupId, options.groupId, {
        replicationFactor: options.park?.replicationFactor,
      });
      this.resumer = new KafkaConsumerRunner(kafka, context, {
        ...options,
        groupId,
        topics: [topic],
        fromBeginning: true,
        onExhausted: 'retry',
        park: undefined,
        // Commit at once: the main consumer resumes a tenant when this group is past its records.
        autoCommitThreshold: 1,
      });
    }
    this.logger = new Logger(`KafkaConsumer:${options.groupId}`);
    let resolve = () => {};
    const promise = new Promise<void>((done) => (resolve = done));
    this.firstJoin = { promise, resolve };
    this.consumer = kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs ?? 10_000,
      heartbeatInterval: options.heartbeatIntervalMs ?? 3_000,
      rebalanceTimeout: options.rebalanceTimeoutMs ?? 10_000,
      // kafkajs restarts a crashed consumer by itself, never once it is stopping.
      retry: { retries: 8, initialRetryTime: 300, restartOnFailure: () => this.restartable() },
    });
    this.stateValue = {
      groupId: options.groupId,
      topics: options.topics,
      status: 'starting',
      joinedAt: null,
      lastBatchAt: null,
      lastError: null,
    };
    this.consumer.on(this.consumer.events.CRASH, (event) => {
      if (this.stopped) return;
      this.stateValue.lastError = String(event.payload.error?.message ?? event.payload.error);
      this.stateValue.status = event.payload.restart ? 'starting' : 'crashed';
      // kafkajs gave up (an error it deems permanent): start again after a backoff.
      if (!event.payload.restart) this.launch(true);
    });
    this.consumer.on(this.consumer.events.GROUP_JOIN, () => {
      if (this.stopped) return;
      this.stateValue.status = 'running';
      this.stateValue.joinedAt = new Date();
      this.firstJoin.resolve();
    });
  }

  get state(): ConsumerState {
    if (!this.parking) return { ...this.stateValue };
    return {
      ...this.stateValue,
      parkedTenants: this.parking.size,
      parkedRecords: this.parking.parkedTotal,
    };
  }

  get groupId(): string {
    return this.options.groupId;
  }

  /** This consumer's group and, in `park` mode, its resume group, each with its state. */
  get groups(): ConsumerState[] {
    return [this.state, ...(this.resumer?.groups ?? [])];
  }

  /**
   * Starts in the background and returns at once: connects, subscribes and joins the group
   * (and the resume group), retrying with capped backoff until it joins or `stop()` is called;
   * never rejects. Joining waits for the broker to rebalance (after a crash, until the dead
   * member's session expires): nothing else needs to wait for it.
   */
  start(): void {
    this.launch(false);
  }

  /** Resolves once this consumer (and its resume group) joined for the first time. */
  async joined(): Promise<void> {
    await Promise.all([this.firstJoin.promise, this.resumer?.joined()]);
  }

  private launch(afterCrash: boolean): void {
    if (this.stopped || this.starting) return;
    this.starting = this.startUntilJoined(afterCrash).finally(() => (this.starting = null));
  }

  private async startUntilJoined(afterCrash: boolean): Promise<void> {
    // Failures so far: each waits longer before the next attempt (a crash counts as one).
    let failures = afterCrash ? 1 : 0;
    let lastKind = '';
    const failed = (error: Error) => {
      failures++;
      this.stateValue.lastError = error.message;
      // One line per kind of failure (a group name and a broker error: no tenant in either).
      const kind = `${error.name}: ${error.message}`;
      if (kind !== lastKind) {
        this.logger.warn(
          { err: error, attempt: failures, retryInMs: backoffMs(failures) },
          'Consumer could not join its group; retrying',
        );
      }
      lastKind = kind;
    };
    for (;;) {
      if (failures > 0) await this.backoff(failures);
      if (this.stopped) return;
      this.stateValue.status = 'starting';
      try {
        // The park producer is ready before the first batch; the resume group starts once its
        // topic exists, and joins meanwhile.
        await this.parking?.start(this.options.topics[0]);
        if (this.stopped) return await this.parking?.stop();
        this.resumer?.start();
        await this.startOwn();
        // kafkajs reports a join it gave up on as a crash, not as a rejection.
        if (this.state.status !== 'crashed') return;
        failed(new Error(this.stateValue.lastError ?? 'crashed while joining'));
      } catch (caught) {
        if (this.stopped) return;
        failed(asError(caught));
        await this.consumer.disconnect().catch(() => undefined);
      }
    }
  }

  /** Waits `backoffMs(failures)`, or less when the consumer stops meanwhile. */
  private async backoff(failures: number): Promise<void> {
    await sleep(backoffMs(failures), this.stopping.signal);
  }

  private restartable(): Promise<boolean> {
    return Promise.resolve(!this.stopped);
  }

  private async startOwn(): Promise<void> {
    const options = this.options;
    await this.consumer.connect();
    // Stopped while connecting: `stop()` may have stopped waiting for this start.
    if (this.stopped) return this.consumer.disconnect();
    await this.consumer.subscribe({
      topics: options.topics,
      fromBeginning: options.fromBeginning ?? false,
    });
    await this.consumer.run({
      autoCommit: true,
      autoCommitInterval: 1_000,
      autoCommitThreshold: options.autoCommitThreshold,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 1,
      eachBatch: async (payload) => {
        this.stateValue.lastBatchAt = new Date();
        await this.processBatch(payload);
      },
    });
  }

  /** Leaves the group (kafkajs's disconnect sends LeaveGroup), so a restart need not wait. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    const joined = this.stateValue.status === 'running';
    this.stopped = true;
    this.stateValue.status = 'stopped';
    this.stopping.abort();
    const waited = new AbortController();
    const deadline = sleep(STOP_WAIT_MS, waited.signal);
    const bounded = (work: Promise<unknown> | null) => Promise.race([work, deadline]);
    // A member finishes its in-flight batch, then leaves. One still joining has no batch, and
    // kafkajs's disconnect would wait for the join's answer (up to a rebalance): bounded. A start
    // still connecting (kafkajs retries a connection for minutes) stops at its next step.
    const disconnect = this.consumer.disconnect();
    await Promise.allSettled([joined ? disconnect : bounded(disconnect), this.resumer?.stop()]);
    await bounded(this.starting);
    waited.abort();
    await this.parking?.stop();
  }

  private async processBatch(payload: {
    batch: Batch;
    resolveOffset: (offset: string) => void;
    heartbeat: () => Promise<void>;
    commitOffsetsIfNecessary: () => Promise<void>;
    isRunning: () => boolean;
    isStale: () => boolean;
  }): Promise<void> {
    const { batch, resolveOffset, isRunning, isStale } = payload;
    const heartbeat = () =>
      payload.heartbeat().catch((error: unknown) => {
        this.logger.warn({ err: error }, 'Heartbeat failed');
      });
    // kafkajs only heartbeats between messages: keep the membership alive while handlers run.
    const timer = setInterval(
      () => void heartbeat(),
      Math.max(500, Math.floor((this.options.heartbeatIntervalMs ?? 3_000) / 2)),
    );
    const live = () => isRunning() && !isStale() && !this.stopped;

    // Settlement watermark: offsets resolve strictly in order, up to the lowest unsettled one.
    const messages = batch.messages;
    const settled = new Array<boolean>(messages.length).fill(false);
    let next = 0;
    const settle = (index: number) => {
      settled[index] = true;
      let advanced = false;
      while (next < messages.length && settled[next]) {
        resolveOffset(messages[next].offset);
        next++;
        advanced = true;
      }
      if (advanced) void payload.commitOffsetsIfNecessary().catch(() => undefined);
    };

    try {
      const raws: RawMessage[] = messages.map((message) => ({
        ...message,
        topic: batch.topic,
        partition: batch.partition,
      }));
      if (this.options.handleBatch) {
        const parsed = raws.map((raw) => this.parseOne(raw, heartbeat));
        await this.runBatchMode(parsed, settle, heartbeat, live);
      } else {
        await this.runMessageMode(raws, settle, heartbeat, live);
      }
    } catch (error) {
      if (error instanceof StoppedError) return;
      this.stateValue.lastError = asError(error).message;
      throw error;
    } finally {
      clearInterval(timer);
    }
  }

  private parseOne(raw: RawMessage, heartbeat: () => Promise<void>): Parsed<T> {
    const headers = headersToStrings(raw.headers);
    const tenant = tenantIdSchema.safeParse(headers[TENANT_HEADER]);
    try {
      if (!tenant.success) throw new Error(`missing or invalid ${TENANT_HEADER} header`);
      const body = this.options.parse(raw.value ?? Buffer.alloc(0));
      return {
        ok: true,
        raw,
        inbound: {
          topic: raw.topic,
          partition: raw.partition,
          offset: raw.offset,
          key: raw.key?.toString() ?? null,
          headers,
          tenantId: tenant.data,
          body,
          heartbeat,
        },
      };
    } catch (error) {
      return { ok: false, raw, error: asError(error) };
    }
  }

  private async poison(raw: RawMessage, error: Error, reason: string): Promise<void> {
    this.logger.warn({ err: error, topic: raw.topic, offset: raw.offset }, reason);
    await this.options.onPoison(raw, error);
  }

  /**
   * Per-message handlers; one lane per key (in order), up to `concurrency` lanes at once. Each
   * message is parsed when its lane reaches it, not the whole batch first: parsing thousands of
   * records up front would hold every lane (nothing in flight) for as long as it takes.
   */
  private async runMessageMode(
    raws: RawMessage[],
    settle: (index: number) => void,
    heartbeat: () => Promise<void>,
    live: () => boolean,
  ): Promise<void> {
    const concurrency = Math.max(1, this.options.concurrency ?? 1);
    const lanes: number[][] = [];
    if (concurrency === 1) lanes.push(raws.map((_, index) => index));
    else {
      const byKey = new Map<string, number[]>();
      raws.forEach((raw, index) => {
        const key = raw.key?.toString();
        if (key === undefined) return lanes.push([index]);
        let lane = byKey.get(key);
        if (!lane) {
          lane = [];
          byKey.set(key, lane);
          lanes.push(lane);
        }
        lane.push(index);
      });
    }
    let fatal: unknown = undefined;
    let cursor = 0;
    const worker = async () => {
      while (fatal === undefined && cursor < lanes.length) {
        const lane = lanes[cursor++];
        for (const index of lane) {
          if (fatal !== undefined) return;
          if (!live()) {
            fatal = new StoppedError();
            return;
          }
          try {
            await this.handleOne(this.parseOne(raws[index], heartbeat), heartbeat, live);
            settle(index);
          } catch (error) {
            fatal = error;
            return;
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, lanes.length) }, worker));
    if (fatal !== undefined) throw asError(fatal);
  }

  private spanNameOf(message: InboundMessage<T>): string {
    return this.options.spanName ?? `process ${message.topic}`;
  }

  private async handleOne(
    item: Parsed<T>,
    heartbeat: () => Promise<void>,
    live: () => boolean,
  ): Promise<void> {
    if (!item.ok) return this.poison(item.raw, item.error, 'Poison message');
    const handle =
      this.options.handle ??
      (async (message: InboundMessage<T>) => {
        const outcome = await this.options.handleBatch!([message]);
        if (outcome?.failed[0]) throw outcome.failed[0].error;
      });
    const error = await this.withAttempts(
      () =>
        this.context.run(
          {
            transport: 'kafka',
            requestId: item.inbound.headers[REQUEST_ID_HEADER],
            principal: { tenantId: item.inbound.tenantId, isPlatformAdmin: false, via: 'message' },
          },
          () =>
            inConsumerSpan(this.spanNameOf(item.inbound), this.options.groupId, item.inbound, () =>
              handle(item.inbound),
            ),
        ),
      item.raw,
      heartbeat,
      live,
    );
    if (error) await this.poison(item.raw, error, 'Handler gave up');
  }

  private async runBatchMode(
    parsed: Parsed<T>[],
    settle: (index: number) => void,
    heartbeat: () => Promise<void>,
    live: () => boolean,
  ): Promise<void> {
    const good: Good<T>[] = parsed.flatMap((item, index) =>
      item.ok ? [{ inbound: item.inbound, raw: item.raw, index }] : [],
    );
    const parking = this.parking;
    await parking?.refresh();
    // A parked tenant's records follow its parked ones, unless those were all handled meanwhile.
    const direct: Good<T>[] = [];
    const parkedTenants = new Map<string, Good<T>[]>();
    for (const message of good) {
      const tenantId = message.inbound.tenantId;
      if (!parking?.isParked(tenantId)) direct.push(message);
      else if (parkedTenants.has(tenantId)) parkedTenants.get(tenantId)!.push(message);
      else parkedTenants.set(tenantId, [message]);
    }
    const follow: Failed<T>[] = [];
    const [exhausted, ...drained] = await Promise.all([
      this.attemptBatch(direct, settle, heartbeat, live),
      ...[...parkedTenants].map(async ([tenantId, messages]) => {
        if (
          parking!.isDraining(tenantId) &&
          (await parking!.waitDrained(tenantId, DRAIN_WAIT_MS, live))
        ) {
          return this.attemptBatch(messages, settle, heartbeat, live);
        }
        follow.push(...messages.map((message) => ({ ...message, error: TENANT_PARKED })));
        return [];
      }),
    ]);
    const failed = [...exhausted, ...drained.flat()];
    if (parking) {
      const park = [...failed, ...follow].sort(byIndex);
      if (park.length > 0) {
        if (!live()) throw new StoppedError();
        await parking.park(
          park.map(({ raw, inbound, error }) => ({ raw, tenantId: inbound.tenantId, error })),
          park[0].raw.partition,
        );
        for (const { index } of park) settle(index);
      }
    } else {
      // Still failing: each message alone, so one bad record cannot hold the rest.
      for (const { index } of failed.sort(byIndex)) {
        await this.handleOne(parsed[index], heartbeat, live);
        settle(index);
      }
    }
    for (let index = 0; index < parsed.length; index++) {
      const item = parsed[index];
      if (!item.ok) {
        await this.poison(item.raw, item.error, 'Poison message');
        settle(index);
      }
    }
  }

  /**
   * Runs the batch handler on `messages`, then again only on the failed ones, one call per
   * tenant (all at once), with capped backoff. Successes settle as they come; permanent errors
   * go to `onPoison`. Returns what still fails after `attempts` (never, in `retry` mode).
   */
  private async attemptBatch(
    messages: Good<T>[],
    settle: (index: number) => void,
    heartbeat: () => Promise<void>,
    live: () => boolean,
  ): Promise<Failed<T>[]> {
    if (messages.length === 0) return [];
    const attempts = Math.max(1, this.options.attempts ?? 3);
    const forever = this.options.onExhausted === 'retry';
    let groups = [messages];
    for (let attempt = 1; ;) {
      const failed: Failed<T>[] = [];
      let mixed = false;
      await Promise.all(
        groups.map(async (group) => {
          let outcome: void | BatchOutcome<T>;
          try {
            const inbound = group.map((message) => message.inbound);
            outcome = await inBatchSpans(
              this.spanNameOf(inbound[0]),
              this.options.groupId,
              inbound,
              () => this.options.handleBatch!(inbound),
              (result) => new Set(result?.failed.map((f) => f.message)),
            );
          } catch (caught) {
            const error = asError(caught);
            for (const message of group) failed.push({ ...message, error });
            // A throw for several tenants says nothing about each: split before judging it.
            if (new Set(group.map((message) => message.inbound.tenantId)).size > 1) mixed = true;
            return;
          }
          const errors = new Map(outcome?.failed.map((f) => [f.message, asError(f.error)]));
          for (const message of group) {
            const error = errors.get(message.inbound);
            if (error) failed.push({ ...message, error });
            else settle(message.index);
          }
        }),
      );
      failed.sort(byIndex);
      if (failed.length === 0) return [];
      if (mixed) {
        groups = groupByTenant(failed);
        continue;
      }
      const retry: Failed<T>[] = [];
      for (const message of failed) {
        if (!this.isPermanent(message.error)) retry.push(message);
        else {
          await this.poison(message.raw, message.error, 'Handler gave up (permanent error)');
          settle(message.index);
        }
      }
      if (retry.length === 0) return [];
      this.logger.warn(
        {
          err: retry[0].error,
          topic: retry[0].raw.topic,
          partition: retry[0].raw.partition,
          attempt,
          failed: retry.length,
          tenants: [...new Set(retry.map((message) => message.inbound.tenantId))],
        },
        'Batch handler failed',
      );
      if (attempt >= attempts && !forever) return retry;
      await heartbeat();
      await sleep(Math.min(100 * 2 ** (attempt - 1), 5_000));
      if (!live()) throw new StoppedError();
      await heartbeat();
      groups = groupByTenant(retry);
      attempt++;
    }
  }

  /** Runs `work` with retries; returns the error to park, or undefined when it succeeded. */
  private async withAttempts(
    work: () => Promise<void>,
    raw: RawMessage,
    heartbeat: () => Promise<void>,
    live: () => boolean,
  ): Promise<Error | undefined> {
    const attempts = Math.max(1, this.options.attempts ?? 3);
    const forever = this.options.onExhausted === 'retry';
    for (let attempt = 1; ; attempt++) {
      try {
        await work();
        return undefined;
      } catch (caught) {
        const error = asError(caught);
        const permanent = this.isPermanent(error);
        this.logger.warn(
          { err: error, topic: raw.topic, offset: raw.offset, attempt, permanent },
          'Handler failed',
        );
        if (permanent) return error;
        if (attempt >= attempts && !forever) return error;
        await heartbeat();
        await sleep(Math.min(100 * 2 ** (attempt - 1), 5_000));
        if (!live()) throw new StoppedError();
        await heartbeat();
      }
    }
  }

  private isPermanent(error: Error): boolean {
    if (this.options.isPermanent) return this.options.isPermanent(error);
    return false;
  }
}

/**
 * A batch handler's body per tenant: `work` runs for each tenant's messages (in their order),
 * up to `concurrency` tenants at once, and a tenant whose `work` throws fails all its messages
 * (and only its own). For `handleBatch`: `(messages) => handleByTenant(messages, write)`.
 */
export async function handleByTenant<T>(
  messages: InboundMessage<T>[],
  work: (tenantId: string, messages: InboundMessage<T>[]) => Promise<void>,
  concurrency = 8,
): Promise<BatchOutcome<T>> {
  const groups = groupByTenant(messages.map((inbound) => ({ inbound })));
  const failed: BatchOutcome<T>['failed'] = [];
  let next = 0;
  const worker = async () => {
    while (next < groups.length) {
      const group = groups[next++].map(({ inbound }) => inbound);
      try {
        await work(group[0].tenantId, group);
      } catch (caught) {
        const error = asError(caught);
        for (const message of group) failed.push({ message, error });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, groups.length) }, worker));
  return { failed };
}

/** A 4xx AppError (unknown tenant, bad input) will not get better by retrying. */
export function isClientAppError(error: Error): boolean {
  return error instanceof AppError && error.status >= 400 && error.status < 500;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** A start's wait after its n-th failure: 0.5 s doubling up to 30 s. */
function backoffMs(failures: number): number {
  return Math.min(500 * 2 ** (failures - 1), 30_000);
}
