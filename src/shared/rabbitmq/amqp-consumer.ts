import { Logger } from '@nestjs/common';
import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import { z } from 'zod';
import { REQUEST_ID_HEADER, TENANT_HEADER, type TenantContext } from '../tenant-context';
import { contextOf, inSpan, SpanKind, TENANT_ATTRIBUTE, TRACEPARENT_HEADER } from '../telemetry';
import type { ChannelGeneration, ChannelMember, ConsumerChannel } from './consumer-channel';

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
  /** Handlers running at once for this consumer (enforced here; also its prefetch). */
  concurrency: number;
  /** The tenant whose queue this is: a message whose header names another is dead-lettered. */
  expectedTenantId?: string;
  /** Declares what the consumer needs, on its channel, before every (re)subscription. */
  setup?: (channel: ConfirmChannel) => Promise<unknown>;
  parse: (content: Buffer) => T;
  /** Runs inside the message's tenant context. */
  handle: (message: AmqpInbound<T>) => Promise<AmqpOutcome | void>;
  /** What a throw from `handle` means; default: dead-letter (the queue's DLX keeps it). */
  onError?: (message: AmqpInbound<T>, error: Error) => Promise<AmqpOutcome>;
}

interface Delivery {
  generation: ChannelGeneration;
  raw: ConsumeMessage;
  settled: boolean;
}

const tenantIdSchema = z.uuid();
const RESUBSCRIBE_DELAY_MS = 1_000;
const RESUBSCRIBE_MAX_DELAY_MS = 30_000;

/**
 * One queue's consumer on a channel it may share with many others. Manual acks, each on the
 * channel generation the delivery arrived on: after a reconnect a handler that began on the old
 * channel settles nothing (the broker requeued its message), so it can never ack another
 * message's tag on the new channel. Concurrency is enforced here (a change applies at once;
 * the prefetch follows by cancel and re-consume). `stop()` cancels, returns what it buffered,
 * lets in-flight handlers finish and settle, then leaves the channel.
 */
export class AmqpConsumer<T> implements ChannelMember {
  private readonly logger: Logger;
  private limit: number;
  private readonly buffer: Delivery[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private subscription?: { generation: ChannelGeneration; consumerTag: string };
  private stopping?: Promise<void>;
  private readonly stoppedCallbacks: Array<() => void> = [];
  private firstSubscription!: () => void;
  private retryTimer?: NodeJS.Timeout;
  /** Resolves once the consumer first subscribed. */
  readonly subscribed: Promise<void>;
  /** Settlements skipped because their channel had closed (the broker requeued them). */
  skippedSettles = 0;
  /** Why the last subscription failed (null while it consumes or has not tried yet). */
  blockedReason: string | null = null;
  private failures = 0;

  constructor(
    private readonly channel: ConsumerChannel,
    private readonly context: TenantContext,
    private readonly options: AmqpConsumerOptions<T>,
  ) {
    this.logger = new Logger(`AmqpConsumer:${options.queue}`);
    this.limit = options.concurrency;
    this.subscribed = new Promise((resolve) => (this.firstSubscription = resolve));
  }

  get queue(): string {
    return this.options.queue;
  }

  /** Handlers running now. */
  get active(): number {
    return this.inFlight.size;
  }

  get concurrency(): number {
    return this.limit;
  }

  /** Subscribed on an open channel now. */
  get isSubscribed(): boolean {
    return !!this.subscription?.generation.open;
  }

  get isStopping(): boolean {
    return this.stopping !== undefined;
  }

  /** Joins the channel; resolves once subscribed when `wait` (the default). */
  async start(wait = true): Promise<void> {
    await this.channel.attach(this);
    if (wait) await this.subscribed;
  }

  onStopped(callback: () => void): void {
    this.stoppedCallbacks.push(callback);
  }

  /** New concurrency, applied at once to what starts next; the prefetch follows by re-consuming. */
  async setConcurrency(concurrency: number): Promise<void> {
    if (concurrency === this.limit || this.stopping) return;
    this.limit = concurrency;
    this.pump();
    const current = this.subscription;
    if (!current?.generation.open) return;
    await this.channel.exclusive(async () => {
      if (this.stopping || this.subscription !== current || !current.generation.open) return;
      await current.generation.channel.cancel(current.consumerTag);
      this.subscription = undefined;
      await this.consume(current.generation);
    });
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearTimeout(this.retryTimer);
      const current = this.subscription;
      if (current?.generation.open) {
        await this.channel
          .exclusive(() => current.generation.channel.cancel(current.consumerTag))
          .catch(() => undefined);
      }
      this.subscription = undefined;
      this.channel.detach(this);
      // Taken but not started: back to the queue, for this or another instance.
      for (const delivery of this.buffer.splice(0)) this.settle(delivery, 'requeue');
      while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
      this.stoppedCallbacks.forEach((callback) => callback());
    })();
    return this.stopping;
  }

  /** ChannelMember: declare, qos, consume on this generation. */
  async subscribe(generation: ChannelGeneration): Promise<void> {
    if (this.stopping) return;
    try {
      if (this.options.setup) await this.options.setup(generation.channel);
      await this.consume(generation);
      if (this.blockedReason) this.logger.log('Consuming again');
      this.blockedReason = null;
      this.failures = 0;
      this.firstSubscription();
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      // Once per new reason: a queue that stays unusable is in its status and metrics, not the log.
      if (reason !== this.blockedReason) this.logger.warn({ err }, 'Cannot consume this queue');
      this.blockedReason = reason;
      this.failures++;
      this.scheduleResubscribe();
      throw err;
    }
  }

  /** ChannelMember: the channel closed; what it delivered is back in the queue. */
  channelLost(generation: ChannelGeneration): void {
    if (this.subscription?.generation === generation) this.subscription = undefined;
    for (let i = this.buffer.length - 1; i >= 0; i--) {
      if (this.buffer[i].generation === generation) this.buffer.splice(i, 1);
    }
  }

  private async consume(generation: ChannelGeneration): Promise<void> {
    await generation.channel.prefetch(this.limit, false);
    const { consumerTag } = await generation.channel.consume(
      this.options.queue,
      (raw) => this.onDelivery(generation, raw),
      { noAck: false },
    );
    this.subscription = { generation, consumerTag };
  }

  private scheduleResubscribe(): void {
    if (this.stopping) return;
    clearTimeout(this.retryTimer);
    const delay = Math.min(
      RESUBSCRIBE_MAX_DELAY_MS,
      RESUBSCRIBE_DELAY_MS * 2 ** Math.max(0, this.failures - 1),
    );
    this.retryTimer = setTimeout(() => {
      if (!this.isSubscribed) void this.channel.resubscribe(this);
    }, delay);
    this.retryTimer.unref();
  }

  private onDelivery(generation: ChannelGeneration, raw: ConsumeMessage | null): void {
    if (raw === null) {
      // Cancelled by the broker (queue deleted): subscribe again later unless stopping.
      if (this.subscription?.generation === generation) this.subscription = undefined;
      this.logger.warn('Consumer cancelled by the broker');
      this.scheduleResubscribe();
      return;
    }
    const delivery: Delivery = { generation, raw, settled: false };
    if (this.stopping) {
      this.settle(delivery, 'requeue');
      return;
    }
    this.buffer.push(delivery);
    this.pump();
  }

  private pump(): void {
    while (this.inFlight.size < this.limit && this.buffer.length) {
      const delivery = this.buffer.shift()!;
      if (!delivery.generation.open) continue;
      const work = this.process(delivery).finally(() => {
        this.inFlight.delete(work);
        this.pump();
      });
      this.inFlight.add(work);
    }
  }

  private async process(delivery: Delivery): Promise<void> {
    const { raw } = delivery;
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
      this.settle(delivery, 'dead-letter');
      return;
    }

    const outcome = await this.context
      .run(
        {
          transport: 'rabbitmq',
          requestId: headerString(headers[REQUEST_ID_HEADER]),
          principal: { tenantId: inbound.tenantId, isPlatformAdmin: false, via: 'message' },
        },
        // Tracing on: a span continuing the publisher's trace (its traceparent header).
        () =>
          inSpan(
            'amqp.consume',
            {
              kind: SpanKind.CONSUMER,
              parent: contextOf(headerString(headers[TRACEPARENT_HEADER])),
              attributes: {
                'messaging.system': 'rabbitmq',
                'messaging.destination.name': this.options.queue,
                'messaging.rabbitmq.redelivered': raw.fields.redelivered,
                [TENANT_ATTRIBUTE]: inbound.tenantId,
              },
            },
            () => this.options.handle(inbound),
          ),
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
    this.settle(delivery, outcome);
  }

  /** On the delivery's own channel, once; nothing when that channel is gone (already requeued). */
  private settle(delivery: Delivery, outcome: AmqpOutcome): void {
    if (delivery.settled) return;
    delivery.settled = true;
    if (!delivery.generation.open) {
      this.skippedSettles++;
      return;
    }
    try {
      if (outcome === 'ack') delivery.generation.channel.ack(delivery.raw);
      else delivery.generation.channel.nack(delivery.raw, false, outcome === 'requeue');
    } catch (err) {
      // The channel closed between the check and the call: the broker requeued the message.
      this.skippedSettles++;
      this.logger.debug({ err }, 'Settle skipped: channel closed');
    }
  }
}

function headerString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString();
  return undefined;
}
