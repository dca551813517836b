import { Logger } from '@nestjs/common';
import type { Batch, Consumer, IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import { z } from 'zod';
import { AppError } from '../errors';
import { REQUEST_ID_HEADER, TENANT_HEADER, type TenantContext } from '../tenant-context';

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

export interface ConsumerOptions<T> {
  groupId: string;
  topics: string[];
  fromBeginning?: boolean;
  /** Parses the message value; a failure is poison at once (never retried). */
  parse: (value: Buffer) => T;
  /** Runs inside the message's tenant context. Give this or `handleBatch`. */
  handle?: (message: InboundMessage<T>) => Promise<void>;
  /**
   * Batch mode: every well-formed message of one fetched partition batch at once (several
   * tenants; no tenant context is open — use each message's `tenantId`). When it still fails
   * after `attempts`, each message is tried alone, so one bad record cannot hold the rest.
   */
  handleBatch?: (messages: InboundMessage<T>[]) => Promise<void>;
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
   * (the partition waits; for work that must never be parked, e.g. persisting). Errors for
   * which `isPermanent` answers true go to `onPoison` at once in both modes.
   */
  onExhausted?: 'poison' | 'retry';
  isPermanent?: (error: Error) => boolean;
  /**
   * Handlers in flight at once per partition batch. Messages with the same key stay in order;
   * offsets are committed only up to the lowest message not yet settled. Default 1 (in order).
   */
  concurrency?: number;
  partitionsConsumedConcurrently?: number;
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
}

export interface ConsumerState {
  groupId: string;
  topics: string[];
  /** starting | running | stopped | crashed */
  status: 'starting' | 'running' | 'stopped' | 'crashed';
  lastBatchAt: Date | null;
  lastError: string | null;
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
  private readonly stateValue: ConsumerState;

  constructor(
    kafka: Kafka,
    private readonly context: TenantContext,
    private readonly options: ConsumerOptions<T>,
  ) {
    if (!options.handle && !options.handleBatch) {
      throw new Error('A consumer needs handle or handleBatch');
    }
    this.logger = new Logger(`KafkaConsumer:${options.groupId}`);
    this.consumer = kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: options.heartbeatIntervalMs ?? 3_000,
      retry: { retries: 8, initialRetryTime: 300 },
    });
    this.stateValue = {
      groupId: options.groupId,
      topics: options.topics,
      status: 'starting',
      lastBatchAt: null,
      lastError: null,
    };
    this.consumer.on(this.consumer.events.CRASH, (event) => {
      this.stateValue.lastError = String(event.payload.error?.message ?? event.payload.error);
      if (!event.payload.restart) this.stateValue.status = 'crashed';
    });
    this.consumer.on(this.consumer.events.GROUP_JOIN, () => {
      if (!this.stopped) this.stateValue.status = 'running';
    });
  }

  get state(): ConsumerState {
    return { ...this.stateValue };
  }

  get groupId(): string {
    return this.options.groupId;
  }

  async start(): Promise<void> {
    const options = this.options;
    await this.consumer.connect();
    await this.consumer.subscribe({
      topics: options.topics,
      fromBeginning: options.fromBeginning ?? false,
    });
    await this.consumer.run({
      autoCommit: true,
      autoCommitInterval: 1_000,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 1,
      eachBatch: async (payload) => {
        this.stateValue.lastBatchAt = new Date();
        await this.processBatch(payload);
      },
    });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stateValue.status = 'stopped';
    await this.consumer.disconnect();
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
      const parsed = messages.map((message) =>
        this.parseOne({ ...message, topic: batch.topic, partition: batch.partition }, heartbeat),
      );
      if (this.options.handleBatch) {
        await this.runBatchMode(parsed, settle, heartbeat, live);
      } else {
        await this.runMessageMode(parsed, settle, heartbeat, live);
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

  /** Per-message handlers; one lane per key (in order), up to `concurrency` lanes at once. */
  private async runMessageMode(
    parsed: Parsed<T>[],
    settle: (index: number) => void,
    heartbeat: () => Promise<void>,
    live: () => boolean,
  ): Promise<void> {
    const concurrency = Math.max(1, this.options.concurrency ?? 1);
    const lanes: number[][] = [];
    if (concurrency === 1) lanes.push(parsed.map((_, index) => index));
    else {
      const byKey = new Map<string, number[]>();
      parsed.forEach((item, index) => {
        const key = item.raw.key?.toString();
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
            await this.handleOne(parsed[index], heartbeat, live);
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

  private async handleOne(
    item: Parsed<T>,
    heartbeat: () => Promise<void>,
    live: () => boolean,
  ): Promise<void> {
    if (!item.ok) return this.poison(item.raw, item.error, 'Poison message');
    const handle = this.options.handle ?? ((message) => this.options.handleBatch!([message]));
    const error = await this.withAttempts(
      () =>
        this.context.run(
          {
            transport: 'kafka',
            requestId: item.inbound.headers[REQUEST_ID_HEADER],
            principal: { tenantId: item.inbound.tenantId, isPlatformAdmin: false, via: 'message' },
          },
          () => handle(item.inbound),
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
    const good = parsed.flatMap((item, index) => (item.ok ? [{ item, index }] : []));
    if (good.length > 0) {
      const error = await this.withAttempts(
        () => this.options.handleBatch!(good.map(({ item }) => item.inbound)),
        good[0].item.raw,
        heartbeat,
        live,
      );
      if (error) {
        // The batch as a whole failed: each message alone, so one bad record cannot hold the rest.
        for (const { item, index } of good) {
          await this.handleOne(item, heartbeat, live);
          settle(index);
        }
      } else {
        for (const { index } of good) settle(index);
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

/** A 4xx AppError (unknown tenant, bad input) will not get better by retrying. */
export function isClientAppError(error: Error): boolean {
  return error instanceof AppError && error.status >= 400 && error.status < 500;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
