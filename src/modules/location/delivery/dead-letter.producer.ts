import { Inject, Injectable } from '@nestjs/common';
import { locationConfig, type LocationConfig } from '../../../config';
import { KafkaService, type RawMessage } from '../../../shared/kafka';
import { updatesDeadLettered } from '../location.metrics';
import type { DeadLetterMessage, LocationUpdateMessage } from '../updates/location-update.message';
import { tenantLabel } from '../../../shared/metrics';

/** Produces to `location.updates.dlq` (acks=all); a throw means nothing was parked. */
@Injectable()
export class DeadLetterProducer {
  constructor(
    private readonly kafka: KafkaService,
    @Inject(locationConfig.KEY) private readonly config: LocationConfig,
  ) {}

  async deliveryFailed(
    record: LocationUpdateMessage,
    failure: { error: string; statusCode: number | null; retryable: boolean },
    source: { topic: string; partition: number; offset: string },
  ): Promise<void> {
    await this.send(
      {
        v: 1,
        reason: 'delivery_failed',
        error: failure.error,
        status_code: failure.statusCode,
        retryable: failure.retryable,
        attempt: 1,
        failed_at: new Date().toISOString(),
        record,
        raw: null,
        source,
      },
      record.session_id,
      { 'x-event-id': record.event_id },
    );
  }

  /** An unreadable record: parked at once with its original bytes (and tenant, when it had one). */
  async poison(message: RawMessage, error: Error): Promise<void> {
    const tenant = message.headers?.['x-tenant-id'];
    await this.send(
      {
        v: 1,
        reason: 'poison',
        error: error.message.slice(0, 2000),
        status_code: null,
        retryable: false,
        attempt: 1,
        failed_at: new Date().toISOString(),
        record: null,
        raw: message.value ? message.value.toString('base64') : null,
        source: { topic: message.topic, partition: message.partition, offset: message.offset },
      },
      message.key?.toString() ?? undefined,
      tenant ? { 'x-tenant-id': tenant.toString() } : {},
    );
  }

  private async send(
    message: DeadLetterMessage,
    key: string | undefined,
    headers: Record<string, string>,
  ): Promise<void> {
    await this.kafka.send(this.config.dlqTopic, [{ key, value: JSON.stringify(message), headers }]);
    updatesDeadLettered.inc({
      reason: message.reason,
      tenant_id: tenantLabel(headers['x-tenant-id']),
    });
  }
}
