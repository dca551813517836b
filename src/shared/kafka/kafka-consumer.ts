import { Logger } from '@nestjs/common';
import type { Consumer, IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import { z } from 'zod';
import { REQUEST_ID_HEADER, TENANT_HEADER, type TenantContext } from '../tenant-context';

export interface InboundMessage<T> {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  headers: Record<string, string>;
  tenantId: string;
  body: T;
}

export interface ConsumerOptions<T> {
  groupId: string;
  topics: string[];
  fromBeginning?: boolean;
  /** Parses the message value; a failure is poison at once (never retried). */
  parse: (value: Buffer) => T;
  /** Runs inside the message's tenant context. */
  handle: (message: InboundMessage<T>) => Promise<void>;
  /**
   * Where a message goes when it cannot be handled: no valid tenant header, unparsable, or
   * still failing after `attempts`. Its offset is committed only after this returns; if it
   * throws, nothing is committed and kafkajs redelivers.
   */
  onPoison: (
    message: KafkaMessage & { topic: string; partition: number },
    error: Error,
  ) => Promise<void>;
  /** In-process attempts of `handle` before a message counts as poison. */
  attempts?: number;
  partitionsConsumedConcurrently?: number;
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

/**
 * A kafkajs consumer that opens the tenant context from `x-tenant-id` / `x-request-id` and
 * commits an offset only once its message was handled or handed to `onPoison` (Nest's Kafka
 * transport rethrows into kafkajs, so one poison message would block its partition forever).
 */
export class KafkaConsumerRunner<T = unknown> {
  private readonly logger: Logger;
  private readonly consumer: Consumer;
  private stopped = false;

  constructor(
    kafka: Kafka,
    private readonly context: TenantContext,
    private readonly options: ConsumerOptions<T>,
  ) {
    this.logger = new Logger(`KafkaConsumer:${options.groupId}`);
    this.consumer = kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: 30_000,
      heartbeatInterval: 3_000,
      retry: { retries: 8, initialRetryTime: 300 },
    });
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
      partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 1,
      // kafkajs resolves an offset only when eachMessage returns: a throw here commits nothing.
      eachMessage: async ({ topic, partition, message }) => {
        await this.process({ ...message, topic, partition });
      },
    });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.consumer.disconnect();
  }

  private async process(
    message: KafkaMessage & { topic: string; partition: number },
  ): Promise<void> {
    const options = this.options;
    const headers = headersToStrings(message.headers);
    const tenant = tenantIdSchema.safeParse(headers[TENANT_HEADER]);
    let body: T;
    try {
      if (!tenant.success) throw new Error(`missing or invalid ${TENANT_HEADER} header`);
      body = options.parse(message.value ?? Buffer.alloc(0));
    } catch (error) {
      this.logger.warn(
        { err: error, topic: message.topic, offset: message.offset },
        'Poison message',
      );
      await options.onPoison(message, asError(error));
      return;
    }

    const inbound: InboundMessage<T> = {
      topic: message.topic,
      partition: message.partition,
      offset: message.offset,
      key: message.key?.toString() ?? null,
      headers,
      tenantId: tenant.data,
      body,
    };
    const attempts = options.attempts ?? 3;
    let lastError: Error | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        await this.context.run(
          {
            transport: 'kafka',
            requestId: headers[REQUEST_ID_HEADER],
            principal: { tenantId: tenant.data, isPlatformAdmin: false, via: 'message' },
          },
          () => options.handle(inbound),
        );
        return;
      } catch (error) {
        lastError = asError(error);
        this.logger.warn(
          { err: lastError, topic: message.topic, offset: message.offset, attempt },
          'Handler failed',
        );
        if (attempt < attempts) await sleep(100 * 2 ** (attempt - 1));
      }
    }
    await options.onPoison(message, lastError ?? new Error('handler failed'));
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
