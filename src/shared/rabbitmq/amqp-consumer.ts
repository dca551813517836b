import { Logger } from '@nestjs/common';
import type { AmqpConnectionManager, ChannelWrapper } from 'amqp-connection-manager';
import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import { z } from 'zod';
import { REQUEST_ID_HEADER, TENANT_HEADER, type TenantContext } from '../tenant-context';

export interface AmqpInbound<T> {
  tenantId: string;
  headers: Record<string, unknown>;
  body: T;
  redelivered: boolean;
  raw: ConsumeMessage;
}

/** What the handler decided; `ack` unless it throws. */
export type AmqpOutcome = 'ack' | 'dead-letter' | 'requeue';

export interface AmqpConsumerOptions<T> {
  queue: string;
  /** Messages handled at once on this consumer's channel (its prefetch). */
  concurrency: number;
  /** The tenant whose queue this is: a message whose header names another is dead-lettered. */
  expectedTenantId?: string;
  /** Declares what the consumer needs (replayed after reconnects). */
  setup?: (channel: ConfirmChannel) => Promise<unknown>;
  parse: (content: Buffer) => T;
  /** Runs inside the message's tenant context. */
  handle: (message: AmqpInbound<T>) => Promise<AmqpOutcome | void>;
  /** What a throw from `handle` means; default: dead-letter (the queue's DLX keeps it). */
  onError?: (message: AmqpInbound<T>, error: Error) => Promise<AmqpOutcome>;
}

const tenantIdSchema = z.uuid();

/**
 * One consumer on its own channel (prefetch = concurrency), manual acks. `stop()` cancels
 * delivery, waits for in-flight handlers to settle and then closes the channel, so nothing
 * it took is lost: unacked messages return to the queue when the channel closes.
 */
export class AmqpConsumer<T> {
  private readonly logger: Logger;
  private readonly channel: ChannelWrapper;
  private readonly inFlight = new Set<Promise<void>>();
  private stopping?: Promise<void>;
  private readonly stoppedCallbacks: Array<() => void> = [];

  constructor(
    connection: AmqpConnectionManager,
    private readonly context: TenantContext,
    private readonly options: AmqpConsumerOptions<T>,
  ) {
    this.logger = new Logger(`AmqpConsumer:${options.queue}`);
    this.channel = connection.createChannel({
      name: `consumer:${options.queue}`,
      confirm: true,
      setup: options.setup,
    });
  }

  get active(): number {
    return this.inFlight.size;
  }

  async start(): Promise<void> {
    await this.channel.waitForConnect();
    await this.channel.consume(this.options.queue, (message) => this.track(message), {
      prefetch: this.options.concurrency,
      noAck: false,
    });
  }

  onStopped(callback: () => void): void {
    this.stoppedCallbacks.push(callback);
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.channel.cancelAll().catch(() => undefined);
      await Promise.allSettled([...this.inFlight]);
      await this.channel.close().catch(() => undefined);
      this.stoppedCallbacks.forEach((callback) => callback());
    })();
    return this.stopping;
  }

  private track(message: ConsumeMessage): void {
    const work = this.process(message).finally(() => this.inFlight.delete(work));
    this.inFlight.add(work);
  }

  private async process(raw: ConsumeMessage): Promise<void> {
    const headers = raw.properties.headers ?? {};
    const tenant = tenantIdSchema.safeParse(headerString(headers[TENANT_HEADER]));
    let inbound: AmqpInbound<T>;
    try {
      if (!tenant.success) throw new Error(`missing or invalid ${TENANT_HEADER} header`);
      if (this.options.expectedTenantId && tenant.data !== this.options.expectedTenantId) {
        throw new Error(`${TENANT_HEADER} names another tenant than the queue's`);
      }
      inbound = {
        tenantId: tenant.data,
        headers,
        body: this.options.parse(raw.content),
        redelivered: raw.fields.redelivered,
        raw,
      };
    } catch (error) {
      this.logger.warn(
        { err: error, deliveryTag: raw.fields.deliveryTag },
        'Poison message dead-lettered',
      );
      this.settle(raw, 'dead-letter');
      return;
    }

    const outcome = await this.context
      .run(
        {
          transport: 'rabbitmq',
          requestId: headerString(headers[REQUEST_ID_HEADER]),
          principal: { tenantId: inbound.tenantId, isPlatformAdmin: false, via: 'message' },
        },
        () => this.options.handle(inbound),
      )
      .then(
        (result) => result ?? 'ack',
        (error: unknown) => {
          const err = error instanceof Error ? error : new Error(String(error));
          this.logger.warn({ err }, 'Handler failed');
          return this.options.onError
            ? this.options.onError(inbound, err)
            : ('dead-letter' as const);
        },
      )
      // An onError that itself fails: leave the message to the broker (redelivered), never drop it.
      .catch(() => 'requeue' as const);
    this.settle(raw, outcome);
  }

  private settle(raw: ConsumeMessage, outcome: AmqpOutcome): void {
    if (outcome === 'ack') this.channel.ack(raw);
    else this.channel.nack(raw, false, outcome === 'requeue');
  }
}

function headerString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString();
  return undefined;
}
