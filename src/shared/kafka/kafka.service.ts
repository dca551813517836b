import {
  type BeforeApplicationShutdown,
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
import { awsConfig, type AwsConfig, kafkaConfig, type KafkaConfig } from '../../config';
import { certificateStartupError, commonError } from '../errors';
import { counter, gauge } from '../metrics';
import { REQUEST_ID_HEADER, TENANT_HEADER, TenantContext } from '../tenant-context';
import { producerSpan, type ProducerSpan, settleProducerSpans } from './kafka-tracing';
import { KafkaConsumerRunner, type ConsumerOptions, type ConsumerState } from './kafka-consumer';
import { kafkaConnectionOptions } from './kafka-connection';
import { createTopicsReady } from './kafka-topics';

export interface OutboundMessage {
  key?: string;
  value: string | Buffer;
  headers?: IHeaders;
}

const PREPARED = Symbol('prepared');

/** The running services (one per app; a test process may hold several), read at each scrape. */
const services = new Set<KafkaService>();
gauge({
  name: 'tessera_kafka_consumer_group_joined',
  help: 'Consumer groups this instance runs: 1 joined, 0 joining (after a start or a crash)',
  labelNames: ['group'] as const,
  collect() {
    this.reset();
    for (const service of services)
      for (const group of service.consumerGroups())
        if (group.status !== 'stopped')
          this.set({ group: group.groupId }, group.status === 'running' ? 1 : 0);
  },
});

/** A message stamped by `KafkaService.prepare` in its producer's tenant context. */
export interface PreparedMessage {
  key?: string;
  value: string | Buffer;
  headers: IHeaders;
  readonly [PREPARED]: true;
  /** Its produce span (tracing on), started in the producer's context, ended at the ack. */
  span?: ProducerSpan;
}

/** The same promise, with its rejection marked handled (whoever awaits it still sees it). */
function quiet<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

function headerText(value: IHeaders[string]): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined ? undefined : first.toString();
}

const producerRenewals = counter({
  name: 'tessera_kafka_producer_renewals_total',
  help: 'Idempotent producers replaced after a failed produce (their sequence numbers could not be trusted)',
});

/**
 * Kafka behind a small port: an idempotent producer (acks=all) that stamps every message with
 * the tenant and request id of the current context, topic creation, and consumers whose
 * handler errors never commit an offset silently.
 */
@Injectable()
export class KafkaService
  implements OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown
{
  private readonly logger = new Logger(KafkaService.name);
  readonly kafka: Kafka;
  /**
   * The idempotent producer, replaced after any failed produce. kafkajs takes a failed request's
   * sequence numbers back, but the broker may have written that batch (the answer was lost, as
   * when the broker is killed mid-request): the next batch of the same size would reuse those
   * numbers, and the broker would answer it as a duplicate of the written one, with its offset,
   * without writing it. A new producer id starts new sequences; the old producer is
   * disconnected, so the sends queued behind the failed one fail too (503) instead.
   */
  private producer: Producer;
  /** Connecting `producer`; sends wait for it. */
  private ready: Promise<void> = Promise.resolve();
  private readonly admin: Admin;
  private readonly consumers = new Set<KafkaConsumerRunner<unknown>>();

  constructor(
    @Inject(kafkaConfig.KEY) private readonly config: KafkaConfig,
    @Inject(awsConfig.KEY) aws: AwsConfig,
    private readonly context: TenantContext,
  ) {
    this.kafka = new Kafka({
      clientId: config.clientId,
      brokers: config.brokers,
      ...kafkaConnectionOptions(config, aws.region),
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
    this.producer = this.newProducer();
    this.admin = this.kafka.admin();
    services.add(this);
  }

  /** Connects the producer and admin; a certificate the CA cannot verify is one clear line. */
  async onModuleInit(): Promise<void> {
    try {
      this.ready = this.producer.connect();
      await Promise.all([this.ready, this.admin.connect()]);
    } catch (error) {
      const brokers = this.config.brokers.join(',');
      throw certificateStartupError('Kafka', brokers, 'KAFKA_SSL_CA', error) ?? error;
    }
  }

  /**
   * Consumers stop before anything they use closes: Nest runs every `beforeApplicationShutdown`
   * after every `onModuleDestroy` and before any `onApplicationShutdown`, where clients they
   * depend on (outbound HTTP agents, delivery breakers, database pools, this producer) close.
   * A consumer's in-flight messages finish; what it had not started is redelivered later.
   */
  async beforeApplicationShutdown(): Promise<void> {
    await this.stopConsumers();
  }

  /** The producer and admin close last (consumers stopped already; a no-op if they did). */
  async onApplicationShutdown(): Promise<void> {
    services.delete(this);
    await this.stopConsumers();
    await Promise.allSettled([this.producer.disconnect(), this.admin.disconnect()]);
  }

  async stopConsumers(): Promise<void> {
    await Promise.allSettled([...this.consumers].map((consumer) => consumer.stop()));
    this.consumers.clear();
  }

  async ensureTopics(topics: string[]): Promise<void> {
    await createTopicsReady(
      this.admin,
      topics.map((topic) => ({
        topic,
        numPartitions: this.config.topicPartitions,
        replicationFactor: this.config.replicationFactor,
      })),
    );
  }

  /** Produces with acks=all; headers carry the current tenant and request id. */
  async send(topic: string, messages: OutboundMessage[]): Promise<RecordMetadata[]> {
    return this.sendPrepared(topic, this.prepare(messages));
  }

  /**
   * Stamps messages in the current context: the context's tenant and request id are written
   * last (a caller's header cannot override them), and a caller-supplied `x-tenant-id` that
   * names another tenant is refused. Outside any tenant context the caller's headers stand
   * (trusted system code). For producers that send later, from another context (batchers).
   */
  prepare(messages: OutboundMessage[]): PreparedMessage[] {
    const tenantId = this.context.principalOrNull()?.tenantId;
    const requestId = this.context.requestId;
    return messages.map((message) => {
      const headers: IHeaders = {};
      for (const [name, value] of Object.entries(message.headers ?? {})) {
        const lower = name.toLowerCase();
        if (lower === TENANT_HEADER && tenantId) {
          const given = headerText(value);
          if (given !== undefined && given !== tenantId) {
            throw commonError(
              'COMMON.FORBIDDEN',
              `A message's ${TENANT_HEADER} header names another tenant than the context's`,
            );
          }
          continue;
        }
        if (lower === REQUEST_ID_HEADER && requestId) continue;
        headers[lower === TENANT_HEADER ? TENANT_HEADER : name] = value;
      }
      if (requestId) headers[REQUEST_ID_HEADER] = requestId;
      if (tenantId) headers[TENANT_HEADER] = tenantId;
      // Tracing on: a produce span in this (the producer's) context, its traceparent a header.
      const span = producerSpan(headers, tenantId);
      return { key: message.key, value: message.value, headers, span, [PREPARED]: true as const };
    });
  }

  /** Sends messages made by `prepare` (possibly of several tenants) in one produce request. */
  async sendPrepared(topic: string, messages: PreparedMessage[]): Promise<RecordMetadata[]> {
    if (messages.some((message) => message[PREPARED] !== true)) {
      throw new Error('sendPrepared takes messages made by prepare()');
    }
    const producer = await this.connectedProducer();
    try {
      return await settleProducerSpans(
        topic,
        messages,
        producer.send({
          topic,
          acks: -1,
          messages: messages.map(({ key, value, headers }) => ({ key, value, headers })),
        }),
      );
    } catch (error) {
      this.renewProducer(producer, error);
      throw error;
    }
  }

  private newProducer(): Producer {
    return this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 5,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
  }

  /** The current producer once connected; a failed connect fails this send and is tried again. */
  private async connectedProducer(): Promise<Producer> {
    const { producer, ready } = this;
    try {
      await ready;
      return producer;
    } catch (error) {
      if (this.ready === ready) this.ready = quiet(producer.connect());
      throw error;
    }
  }

  /** After a failed produce: a new producer (new id, new sequences) for every later send. */
  private renewProducer(failed: Producer, error: unknown): void {
    if (this.producer !== failed) return;
    producerRenewals.inc();
    this.logger.warn({ err: error }, 'A produce failed; later sends use a new producer id');
    this.producer = this.newProducer();
    this.ready = quiet(this.producer.connect());
    void failed.disconnect().catch(() => undefined);
  }

  async describeCluster(): Promise<{ brokers: number; controller: number | null }> {
    const cluster = await this.admin.describeCluster();
    return { brokers: cluster.brokers.length, controller: cluster.controller };
  }

  /**
   * Starts a consumer group and returns at once: it joins in the background (retrying until it
   * does), so start-up never waits for a rebalance. Stopped at shutdown after its in-flight
   * message, leaving its group.
   */
  startConsumer<T>(options: ConsumerOptions<T>): Promise<KafkaConsumerRunner<T>> {
    const park =
      options.onExhausted === 'park'
        ? { replicationFactor: this.config.replicationFactor, ...options.park }
        : options.park;
    const runner = new KafkaConsumerRunner(this.kafka, this.context, {
      ...this.config.consumer,
      ...options,
      park,
    });
    this.consumers.add(runner as KafkaConsumerRunner<unknown>);
    runner.start();
    return Promise.resolve(runner);
  }

  /** Every consumer group of this instance (resume groups included), each with its state. */
  consumerGroups(): ConsumerState[] {
    return [...this.consumers].flatMap((runner) => runner.groups);
  }

  /** Resolves once every consumer started so far has joined its group (or after `timeoutMs`). */
  async consumersJoined(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((done) => (timer = setTimeout(() => done(false), timeoutMs)));
    const joined = Promise.all([...this.consumers].map((runner) => runner.joined())).then(
      () => true as const,
    );
    return Promise.race([joined, late]).finally(() => clearTimeout(timer));
  }
}
