import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import amqp, { type AmqpConnectionManager, type ChannelWrapper } from 'amqp-connection-manager';
import type { ConfirmChannel, Options } from 'amqplib';
import { rabbitmqConfig, type RabbitmqConfig } from '../../config';
import { REQUEST_ID_HEADER, TENANT_HEADER, TenantContext } from '../tenant-context';
import { AmqpConsumer, type AmqpConsumerOptions } from './amqp-consumer';

/**
 * RabbitMQ through amqp-connection-manager: one connection that reconnects by itself and
 * replays every channel's topology (its setup functions) after a reconnect; confirm channels
 * for publishing; consumers that run each message in its tenant context.
 */
@Injectable()
export class RabbitMqService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RabbitMqService.name);
  readonly connection: AmqpConnectionManager;
  private readonly publisher: ChannelWrapper;
  private readonly consumers = new Set<AmqpConsumer<unknown>>();

  constructor(
    @Inject(rabbitmqConfig.KEY) config: RabbitmqConfig,
    private readonly context: TenantContext,
  ) {
    this.connection = amqp.connect([config.url], {
      heartbeatIntervalInSeconds: config.heartbeatSeconds,
      reconnectTimeInSeconds: 1,
      connectionOptions: { timeout: 3_000 },
    });
    this.connection.on('disconnect', ({ err }: { err?: Error }) =>
      this.logger.warn({ err }, 'RabbitMQ disconnected; reconnecting'),
    );
    this.connection.on('connect', () => this.logger.log('RabbitMQ connected'));
    this.publisher = this.connection.createChannel({
      name: 'publisher',
      confirm: true,
      publishTimeout: 10_000,
    });
  }

  async onModuleInit(): Promise<void> {
    await this.publisher.waitForConnect();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.stopConsumers();
    await this.publisher.close().catch(() => undefined);
    await this.connection.close();
  }

  get connected(): boolean {
    return this.connection.isConnected();
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

  /** Publishes with a broker confirm; headers carry the current tenant and request id. */
  async publish(
    exchange: string,
    routingKey: string,
    body: Buffer,
    options: Options.Publish = {},
  ): Promise<void> {
    const principal = this.context.principalOrNull();
    const requestId = this.context.requestId;
    await this.publisher.publish(exchange, routingKey, body, {
      persistent: true,
      contentType: 'application/json',
      ...options,
      headers: {
        ...(principal?.tenantId ? { [TENANT_HEADER]: principal.tenantId } : {}),
        ...(requestId ? { [REQUEST_ID_HEADER]: requestId } : {}),
        ...(options.headers as Record<string, unknown> | undefined),
      },
    });
  }

  async startConsumer<T>(options: AmqpConsumerOptions<T>): Promise<AmqpConsumer<T>> {
    const consumer = new AmqpConsumer<T>(this.connection, this.context, options);
    this.consumers.add(consumer as AmqpConsumer<unknown>);
    consumer.onStopped(() => this.consumers.delete(consumer as AmqpConsumer<unknown>));
    await consumer.start();
    return consumer;
  }

  async stopConsumers(): Promise<void> {
    await Promise.allSettled([...this.consumers].map((consumer) => consumer.stop()));
  }
}
