import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { locationConfig, type LocationConfig } from '../../config';
import { KafkaService, type PreparedMessage } from '../../shared/kafka';
import { producerBatchSize, updatesProduced } from './location.metrics';

interface Waiting {
  message: PreparedMessage;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * A coalescing batcher in front of the idempotent producer: records wait at most
 * `LOCATION_BATCH_LINGER_MS` (or until `LOCATION_BATCH_MAX` are waiting) and go out in one
 * produce request (acks=all); every caller's promise settles with its own record's batch.
 * Several batches may be in flight at once (kafkajs keeps per-partition order).
 */
@Injectable()
export class LocationUpdatesProducer implements OnModuleInit, OnApplicationShutdown {
  private waiting: Waiting[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly inFlight = new Set<Promise<void>>();

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
  ): Promise<void> {
    const prepared = this.kafka.prepare(messages);
    const all = prepared.map(
      (message) =>
        new Promise<void>((resolve, reject) => this.waiting.push({ message, resolve, reject })),
    );
    if (this.waiting.length >= this.config.batchMax || this.config.batchLingerMs === 0) {
      this.flush();
    } else {
      this.timer ??= setTimeout(() => this.flush(), this.config.batchLingerMs);
    }
    return Promise.all(all).then(() => undefined);
  }

  async onApplicationShutdown(): Promise<void> {
    this.flush();
    await Promise.allSettled([...this.inFlight]);
  }

  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.waiting.length > 0) {
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
        .finally(() => this.inFlight.delete(sent));
      this.inFlight.add(sent);
    }
  }
}
