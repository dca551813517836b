import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { hostname } from 'node:os';
import amqp, { type AmqpConnectionManager, type ChannelWrapper } from 'amqp-connection-manager';
import type { Channel, ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import {
  messagingConfig,
  type MessagingConfig,
  rabbitmqConfig,
  type RabbitmqConfig,
} from '../../config';
import { certificateStartupError, commonError } from '../errors';
import { REQUEST_ID_HEADER, TENANT_HEADER, TenantContext } from '../tenant-context';
import {
  inSpan,
  SpanKind,
  TENANT_ATTRIBUTE,
  TRACEPARENT_HEADER,
  traceparentOf,
} from '../telemetry';
import { AmqpConsumer, type AmqpConsumerOptions } from './amqp-consumer';
import { ConsumerChannel } from './consumer-channel';

/** The broker nacked a publish (e.g. a full queue with `reject-publish` overflow). */
export class PublishNackedError extends Error {
  constructor() {
    super('The broker refused the message (nack)');
  }
}

/** A `mandatory` publish reached no queue. */
export class PublishUnroutableError extends Error {
  constructor(routingKey: string) {
    super(`No queue is bound for ${routingKey}`);
  }
}

export interface PublishOptions extends Options.Publish {
  /** Rejects instead of waiting for a reconnect this long (ms). */
  timeout?: number;
}

/** Channels and consumers of this process (for the 1,000-tenant measurement and /metrics). */
export interface RabbitMqStats {
  connected: boolean;
  channels: number;
  consumerChannels: number;
  consumers: number;
}

/**
 * RabbitMQ through amqp-connection-manager: one connection that reconnects by itself and
 * replays the publisher's topology (its setup functions) after a reconnect; a confirm channel
 * for publishing; consumers that run each message in its tenant context. Consumers share a
 * small pool of channels (RABBITMQ_CONSUMER_CHANNELS): a thousand tenant queues do not need a
 * thousand channels.
 */
/** The name this process's connection has on the broker: host and pid. */
export function rabbitConnectionName(): string {
  return `tessera ${hostname()} pid ${process.pid}`;
}

@Injectable()
export class RabbitMqService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RabbitMqService.name);
  readonly connection: AmqpConnectionManager;
  private readonly publisher: ChannelWrapper;
  private readonly consumers = new Set<AmqpConsumer<unknown>>();
  private readonly consumerChannels: ConsumerChannel[] = [];
  private readonly returned = new Set<string>();
  private readonly problems = new Map<string, string>();
  private adminChannel?: Promise<Channel>;
  /** The broker's host and port (never the URL: it may hold credentials), for errors. */
  private readonly host: string;
  /** The last failed connection attempt's error, until a connection succeeds. */
  private connectFailure?: Error;

  constructor(
    @Inject(rabbitmqConfig.KEY)
    config: Pick<RabbitmqConfig, 'url' | 'heartbeatSeconds'> & Partial<Pick<RabbitmqConfig, 'tls'>>,
    private readonly context: TenantContext,
    @Inject(messagingConfig.KEY)
    private readonly messaging: Pick<MessagingConfig, 'consumerChannels'>,
  ) {
    this.connection = amqp.connect([config.url], {
      heartbeatIntervalInSeconds: config.heartbeatSeconds,
      reconnectTimeInSeconds: 1,
      // noDelay: amqplib leaves Nagle on, and a publish is several small frames: the last one
      // waited for the broker's delayed ACK (~40 ms) whenever a single publish was in flight.
      connectionOptions: {
        timeout: 3_000,
        noDelay: true,
        ...(config.tls?.ca && { ca: [config.tls.ca] }),
        // Shown by the broker (management UI, rabbitmqctl list_connections): which process this is.
        clientProperties: { connection_name: rabbitConnectionName() },
      },
    });
    this.connection.on('disconnect', ({ err }: { err?: Error }) =>
      this.logger.warn({ err }, 'RabbitMQ disconnected; reconnecting'),
    );
    this.connection.on('connect', () => {
      this.connectFailure = undefined;
      this.logger.log('RabbitMQ connected');
    });
    this.connection.on('connectFailed', ({ err }: { err: Error }) => {
      if (!this.connectFailure)
        this.logger.warn({ err }, 'RabbitMQ connection failed; retrying every second');
      this.connectFailure = err;
    });
    this.host = new URL(config.url).host;
    this.publisher = this.connection.createChannel({
      name: 'publisher',
      confirm: true,
      publishTimeout: 10_000,
      setup: (channel: ConfirmChannel) => {
        // A mandatory message that reaches no queue comes back before its confirm.
        channel.on('return', (message: ConsumeMessage) => {
          const id = message.properties.messageId as string | undefined;
          if (id) this.returned.add(id);
        });
        return Promise.resolve();
      },
    });
  }

  /**
   * Waits for the broker. A server certificate the CA cannot verify stops the start with one
   * clear line (reconnecting cannot fix it); while the broker is merely down, the wait goes on.
   */
  async onModuleInit(): Promise<void> {
    const certificate = (error?: Error) =>
      error && certificateStartupError('RabbitMQ', this.host, 'RABBITMQ_TLS_CA', error);
    let refuse: (error: Error) => void = () => undefined;
    const refused = new Promise<never>((_, reject) => (refuse = reject));
    const onFailed = ({ err }: { err: Error }) => {
      const startup = certificate(err);
      if (startup) refuse(startup);
    };
    this.connection.on('connectFailed', onFailed);
    try {
      const already = certificate(this.connectFailure);
      if (already) throw already;
      await Promise.race([this.publisher.waitForConnect(), refused]);
    } catch (error) {
      await this.connection.close().catch(() => undefined);
      throw error;
    } finally {
      this.connection.removeListener('connectFailed', onFailed);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.stopConsumers();
    await Promise.allSettled(this.consumerChannels.map((channel) => channel.close()));
    await this.publisher.close().catch(() => undefined);
    await this.connection.close();
  }

  get connected(): boolean {
    return this.connection.isConnected();
  }

  stats(): RabbitMqStats {
    return {
      connected: this.connected,
      channels: this.connection.channelCount + this.consumerChannels.filter((c) => c.isOpen).length,
      consumerChannels: this.consumerChannels.length,
      consumers: this.consumers.size,
    };
  }

  /** Declares topology now and again after every reconnect. */
  async addTopology(setup: (channel: ConfirmChannel) => Promise<unknown>): Promise<void> {
    await this.publisher.addSetup(setup);
  }

  async removeTopology(
    setup: (channel: ConfirmChannel) => Promise<unknown>,
    teardown?: (channel: ConfirmChannel) => Promise<unknown>,
  ): Promise<void> {
    await this.publisher.removeSetup(setup, teardown);
  }

  /**
   * Runs one-off work (declares, deletes, checks) on a channel of its own, never the
   * publisher's: a failed declare or a check of a missing queue closes its channel, and that
   * must not stop publishing. The channel is re-opened on the next call.
   */
  async withChannel<R>(work: (channel: Channel) => Promise<R>): Promise<R> {
    const connection = this.connection.connection;
    if (!connection || !this.connected) {
      throw commonError('COMMON.DEPENDENCY_UNAVAILABLE', 'RabbitMQ is unavailable; retry later');
    }
    this.adminChannel ??= connection.createChannel().then((channel) => {
      channel.on('error', () => undefined);
      channel.on('close', () => (this.adminChannel = undefined));
      return channel;
    });
    const opening = this.adminChannel;
    opening.catch(() => (this.adminChannel = undefined));
    return work(await opening);
  }

  /**
   * Runs work on a channel opened for it and closed after: for declares that may fail (a
   * 406 closes the channel it happened on, and must close nothing shared).
   */
  async withOwnChannel<R>(work: (channel: Channel) => Promise<R>): Promise<R> {
    const connection = this.connection.connection;
    if (!connection || !this.connected) {
      throw commonError('COMMON.DEPENDENCY_UNAVAILABLE', 'RabbitMQ is unavailable; retry later');
    }
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    try {
      return await work(channel);
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  /** Queues a consumer of this process should consume but cannot (queue → why). */
  unconsumedQueues(): Array<{ queue: string; reason: string }> {
    return [...this.consumers]
      .filter((consumer) => consumer.blockedReason !== null && !consumer.isStopping)
      .map((consumer) => ({ queue: consumer.queue, reason: consumer.blockedReason! }));
  }

  /** Records (or, with null, clears) a topology problem readiness should show, e.g. a policy not set. */
  setTopologyProblem(name: string, reason: string | null): void {
    if (reason === null) this.problems.delete(name);
    else this.problems.set(name, reason);
  }

  topologyProblems(): Array<{ name: string; reason: string }> {
    return [...this.problems].map(([name, reason]) => ({ name, reason }));
  }

  /**
   * Publishes with a broker confirm. Headers carry the request id and, stamped last, the
   * context's tenant: a caller header naming another tenant is refused (403), never sent.
   * With `mandatory` and a `messageId`, a message no queue took rejects (PublishUnroutableError);
   * a broker nack rejects with PublishNackedError.
   */
  async publish(
    exchange: string,
    routingKey: string,
    body: Buffer,
    options: PublishOptions = {},
  ): Promise<void> {
    const principal = this.context.principalOrNull();
    const requestId = this.context.requestId;
    const callerHeaders = (options.headers ?? {}) as Record<string, unknown>;
    const callerTenant = callerHeaders[TENANT_HEADER];
    const tenantId = principal?.tenantId;
    if (tenantId && callerTenant !== undefined && headerText(callerTenant) !== tenantId) {
      throw commonError(
        'COMMON.FORBIDDEN',
        `A message of tenant ${tenantId} cannot carry another tenant's ${TENANT_HEADER}`,
      );
    }
    const headers: Record<string, unknown> = {
      ...(requestId ? { [REQUEST_ID_HEADER]: requestId } : {}),
      ...callerHeaders,
      ...(tenantId ? { [TENANT_HEADER]: tenantId } : {}),
    };
    const messageId = options.messageId;
    const send = async () => {
      try {
        await this.publisher.publish(exchange, routingKey, body, {
          persistent: true,
          contentType: 'application/json',
          ...options,
          headers,
        });
      } catch (error) {
        if (error instanceof Error && /nack/i.test(error.message)) throw new PublishNackedError();
        throw error;
      }
    };
    // Tracing on: a publish span (until the confirm), its traceparent a header of the message.
    await inSpan(
      'amqp.publish',
      {
        kind: SpanKind.PRODUCER,
        attributes: {
          'messaging.system': 'rabbitmq',
          'messaging.destination.name': exchange || routingKey,
          ...(messageId ? { 'messaging.message.id': messageId } : {}),
          ...(headerText(headers[TENANT_HEADER])
            ? { [TENANT_ATTRIBUTE]: headerText(headers[TENANT_HEADER]) }
            : {}),
        },
      },
      (span) => {
        if (span) headers[TRACEPARENT_HEADER] = traceparentOf(span);
        return send();
      },
    );
    // A return precedes its confirm: it is known by now.
    if (options.mandatory && messageId && this.returned.delete(messageId)) {
      throw new PublishUnroutableError(routingKey);
    }
  }

  /** Starts a consumer on the least-used shared channel; resolves once it consumes (when `wait`). */
  async startConsumer<T>(
    options: AmqpConsumerOptions<T>,
    { wait = true }: { wait?: boolean } = {},
  ): Promise<AmqpConsumer<T>> {
    const consumer = new AmqpConsumer<T>(this.pickChannel(), this.context, options);
    this.consumers.add(consumer as AmqpConsumer<unknown>);
    consumer.onStopped(() => this.consumers.delete(consumer as AmqpConsumer<unknown>));
    await consumer.start(wait);
    return consumer;
  }

  async stopConsumers(): Promise<void> {
    await Promise.allSettled([...this.consumers].map((consumer) => consumer.stop()));
  }

  private pickChannel(): ConsumerChannel {
    if (this.consumerChannels.length < this.messaging.consumerChannels) {
      const channel = new ConsumerChannel(
        this.connection,
        `consumers-${this.consumerChannels.length + 1}`,
      );
      this.consumerChannels.push(channel);
      return channel;
    }
    return this.consumerChannels.reduce((least, channel) =>
      channel.size < least.size ? channel : least,
    );
  }
}

function headerText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString();
  return JSON.stringify(value);
}
