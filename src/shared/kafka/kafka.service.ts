import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import {
  type Admin,
  type IHeaders,
  Kafka,
  logLevel,
  Partitioners,
  type Producer,
  type RecordMetadata,
} from 'kafkajs';
import { kafkaConfig, type KafkaConfig } from '../../config';
import { REQUEST_ID_HEADER, TENANT_HEADER, TenantContext } from '../tenant-context';
import { KafkaConsumerRunner, type ConsumerOptions } from './kafka-consumer';

export interface OutboundMessage {
  key?: string;
  value: string | Buffer;
  headers?: IHeaders;
}

/**
 * Kafka behind a small port: an idempotent producer (acks=all) that stamps every message with
 * the tenant and request id of the current context, topic creation, and consumers whose
 * handler errors never commit an offset silently.
 */
@Injectable()
export class KafkaService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(KafkaService.name);
  readonly kafka: Kafka;
  private readonly producer: Producer;
  private readonly admin: Admin;
  private readonly consumers = new Set<{ stop(): Promise<void> }>();

  constructor(
    @Inject(kafkaConfig.KEY) private readonly config: KafkaConfig,
    private readonly context: TenantContext,
  ) {
    this.kafka = new Kafka({
      clientId: config.clientId,
      brokers: config.brokers,
      connectionTimeout: 3_000,
      requestTimeout: 10_000,
      retry: { retries: 5, initialRetryTime: 200 },
      logLevel: logLevel.WARN,
      logCreator: () => (entry) => {
        const { message, timestamp: _timestamp, logger: _logger, ...extra } = entry.log;
        const fields = { kafka: extra, namespace: entry.namespace };
        if (entry.level <= logLevel.ERROR) this.logger.error(fields, message);
        else this.logger.warn(fields, message);
      },
    });
    this.producer = this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 5,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    this.admin = this.kafka.admin();
  }

  async onModuleInit(): Promise<void> {
    await Promise.all([this.producer.connect(), this.admin.connect()]);
  }

  /** Stops consumers first (their in-flight messages finish), then the producer and admin. */
  async onApplicationShutdown(): Promise<void> {
    await this.stopConsumers();
    await Promise.allSettled([this.producer.disconnect(), this.admin.disconnect()]);
  }

  async stopConsumers(): Promise<void> {
    await Promise.allSettled([...this.consumers].map((consumer) => consumer.stop()));
    this.consumers.clear();
  }

  async ensureTopics(topics: string[]): Promise<void> {
    await this.admin.createTopics({
      waitForLeaders: true,
      topics: topics.map((topic) => ({
        topic,
        numPartitions: this.config.topicPartitions,
        replicationFactor: this.config.replicationFactor,
      })),
    });
  }

  /** Produces with acks=all; headers carry the current tenant and request id. */
  async send(topic: string, messages: OutboundMessage[]): Promise<RecordMetadata[]> {
    const principal = this.context.principalOrNull();
    const requestId = this.context.requestId;
    const stamped = messages.map((message) => ({
      ...message,
      headers: {
        ...(principal?.tenantId ? { [TENANT_HEADER]: principal.tenantId } : {}),
        ...(requestId ? { [REQUEST_ID_HEADER]: requestId } : {}),
        ...message.headers,
      },
    }));
    return this.producer.send({ topic, acks: -1, messages: stamped });
  }

  async describeCluster(): Promise<{ brokers: number; controller: number | null }> {
    const cluster = await this.admin.describeCluster();
    return { brokers: cluster.brokers.length, controller: cluster.controller };
  }

  /** Starts a consumer group; stopped at shutdown after its in-flight message. */
  async startConsumer<T>(options: ConsumerOptions<T>): Promise<KafkaConsumerRunner<T>> {
    const runner = new KafkaConsumerRunner(this.kafka, this.context, options);
    this.consumers.add(runner);
    await runner.start();
    return runner;
  }
}
