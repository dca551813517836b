import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import {
  kafkaConfig,
  type KafkaConfig,
  locationConfig,
  type LocationConfig,
} from '../../../config';
import { type InboundMessage, KafkaConsumerRunner, KafkaService } from '../../../shared/kafka';
import { emitLifecycleEvent } from '../../../shared/lifecycle';
import { DeadLetterProducer } from './dead-letter.producer';
import { DeliveryService } from './delivery.service';
import { LOCATION_UPDATE_DELIVERED, LocationDeliveredEvent } from '../location.events';
import { deliveryLagSeconds, lagSeconds, updatesDelivered } from '../location.metrics';
import {
  type LocationUpdateMessage,
  parseLocationUpdate,
} from '../updates/location-update.message';
import { tenantLabel } from '../../../shared/metrics';

/**
 * Delivers every update to its tenant's target: up to `LOCATION_DELIVERY_CONCURRENCY`
 * deliveries in flight per partition, every owned partition at once (one session's updates stay
 * in order: one lane per session, so a session's rate is bound by its target's round trip),
 * offsets committed
 * only up to the lowest unsettled update. A failed delivery (or an open breaker) is produced
 * to the dead-letter topic before its offset may be committed; if that produce fails, the
 * update is tried again (nothing is committed past it). Unreadable records go to the DLQ at once.
 */
@Injectable()
export class LocationStreamerConsumer implements OnApplicationBootstrap {
  private readonly logger = new Logger(LocationStreamerConsumer.name);
  runner: KafkaConsumerRunner<LocationUpdateMessage> | null = null;

  constructor(
    private readonly kafka: KafkaService,
    private readonly delivery: DeliveryService,
    private readonly deadLetters: DeadLetterProducer,
    private readonly events: EventEmitter2,
    @Inject(locationConfig.KEY) private readonly config: LocationConfig,
    @Inject(kafkaConfig.KEY) private readonly kafkaSettings: KafkaConfig,
  ) {}

  get groupId(): string {
    return `${this.config.groupPrefix}-streamer`;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.consumersEnabled) return;
    this.runner = await this.kafka.startConsumer<LocationUpdateMessage>({
      groupId: this.groupId,
      topics: [this.config.topic],
      fromBeginning: true,
      parse: parseLocationUpdate,
      attempts: 3,
      onExhausted: 'retry',
      concurrency: this.config.deliveryConcurrency,
      // Every partition this instance owns at once (more partitions, more deliveries in flight).
      partitionsConsumedConcurrently: Math.max(3, this.kafkaSettings.topicPartitions),
      spanName: 'location.stream',
      handle: (message) => this.stream(message),
      onPoison: (message, error) => this.deadLetters.poison(message, error),
    });
  }

  private async stream(message: InboundMessage<LocationUpdateMessage>): Promise<void> {
    const record = message.body;
    if (record.tenant_id !== message.tenantId) {
      this.logger.warn(
        { offset: message.offset },
        'Record body names another tenant than its header',
      );
      return;
    }
    const outcome = await this.delivery.deliver(record);
    if (outcome.skipped) return;
    if (outcome.ok) {
      const tenant = tenantLabel(record.tenant_id);
      updatesDelivered.inc({ path: 'stream', tenant_id: tenant });
      deliveryLagSeconds.observe({ tenant_id: tenant }, lagSeconds(Date.now(), record.received_at));
      emitLifecycleEvent(
        this.events,
        this.logger,
        LOCATION_UPDATE_DELIVERED,
        new LocationDeliveredEvent(
          record.tenant_id,
          record.session_id,
          record.event_id,
          Date.now() - Date.parse(record.received_at),
        ),
      );
      return;
    }
    await this.deadLetters.deliveryFailed(
      record,
      {
        error: outcome.error ?? 'delivery failed',
        statusCode: outcome.status ?? null,
        retryable: outcome.retryable,
      },
      { topic: message.topic, partition: message.partition, offset: message.offset },
    );
  }
}
