import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { locationConfig, type LocationConfig } from '../../../config';
import { KafkaService, type PreparedMessage } from '../../../shared/kafka';
import { producerBatchSize, updatesProduced } from '../location.metrics';

/** Records waiting for a produce request beyond which callers are refused at once (503). */
const MAX_WAITING = 50_000;

interface Waiting {
  message: PreparedMessage;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * A coalescing batcher in front of the idempotent producer: records wait at most
 * `LOCATION_BATCH_LINGER_MS` (or until `LOCATION_BATCH_MAX` are waiting) and go out in one
 * produce request (acks=all); every caller's promise settles with its own record's batch.
 * At most `LOCATION_PRODUCE_IN_FLIGHT` produce requests are outstanding (kafkajs serialises an
 * idempotent producer's requests anyway): what arrives meanwhile is sent as one batch the moment
 * one returns, so batches grow with load instead of queueing one request per HTTP call.
 */
@Injectable()
export class LocationUpdatesProducer implements OnModuleInit, OnApplicationShutdown {
  private waiting: Waiting[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  private stopping = false;

  constructor(
    private readonly kafka: KafkaService,
    @Inject(locationConfig.KEY) private readonly config: LocationConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.kafka.ensureTopics([this.config.topic, this.config.dlqTopic]);
  }

  /** Stamps the records in the caller's tenant context and resolves once Kafka acknowledged them. */
  produce(
    messages: Array<{ key: string; value: string; headers: Record<string, string> }>,
    signal?: AbortSignal,
  ): Promise<void> {
    const prepared = this.kafka.prepare(messages);
    if (this.waiting.length + prepared.length > MAX_WAITING) {
      return Promise.reject(new Error('too many records wait for Kafka'));
    }
    const mine: Waiting[] = [];
    const all = prepared.map(
      (message) =>
        new Promise<void>((resolve, reject) => {
          const entry = { message, resolve, reject };
          mine.push(entry);
          this.waiting.push(entry);
        }),
    );
    // A caller that gave up (answered 503) takes its records back if they were not sent yet.
    signal?.addEventListener('abort', () => {
      const pending = new Set(mine);
      this.waiting = this.waiting.filter((w) => !pending.has(w));
      for (const w of mine) w.reject(new Error('cancelled'));
    });
    this.schedule();
    return Promise.all(all).then(() => undefined);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    while (this.waiting.length > 0 || this.inFlight.size > 0) {
      this.flush();
      await Promise.allSettled([...this.inFlight]);
    }
  }

  private schedule(): void {
    if (this.inFlight.size >= this.config.produceInFlight && !this.stopping) return; // sent on return
    if (this.waiting.length >= this.config.batchMax || this.config.batchLingerMs === 0) {
      this.flush();
    } else {
      this.timer ??= setTimeout(() => this.flush(), this.config.batchLingerMs);
    }
  }

  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (
      this.waiting.length > 0 &&
      (this.inFlight.size < this.config.produceInFlight || this.stopping)
    ) {
      const batch = this.waiting.splice(0, this.config.batchMax);
      producerBatchSize.observe(batch.length);
      const sent = this.kafka
        .sendPrepared(
          this.config.topic,
          batch.map((w) => w.message),
        )
        .then(
          () => {
            updatesProduced.inc({ topic: this.config.topic }, batch.length);
            for (const w of batch) w.resolve();
          },
          (error: unknown) => {
            const failure = error instanceof Error ? error : new Error(String(error));
            for (const w of batch) w.reject(failure);
          },
        )
        .finally(() => {
          this.inFlight.delete(sent);
          // What waited while this request was out goes now, as one batch.
          if (this.waiting.length > 0) this.flush();
        });
      this.inFlight.add(sent);
    }
  }
}
