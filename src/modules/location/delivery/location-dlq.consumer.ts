import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { locationConfig, type LocationConfig } from '../../../config';
import { type InboundMessage, KafkaConsumerRunner, KafkaService } from '../../../shared/kafka';
import { emitLifecycleEvent } from '../../../shared/lifecycle';
import { Clock } from '../clock';
import {
  LOCATION_UPDATE_DEAD_LETTERED,
  LOCATION_UPDATE_PERMANENTLY_FAILED,
  LocationDeadLetteredEvent,
  LocationPermanentlyFailedEvent,
} from '../location.events';
import { ledgerOutcomes } from '../location.metrics';
import { type DeadLetterMessage, parseDeadLetter } from '../updates/location-update.message';
import { RetryLedgerRepository } from './retry-ledger.repository';
import { firstRetryAt } from './retry-schedule';
import { tenantLabel } from '../../../shared/metrics';

/** PostgreSQL: a foreign key (unknown tenant) or check violation will not get better by retrying. */
const PERMANENT_SQL = new Set(['23503', '23514', '22P02']);

/**
 * Files every dead-lettered delivery in the retry ledger, once per event id: retryable failures
 * as `pending` (first retry due after the base delay), others (a 4xx) as `permanently_failed`
 * with the answer recorded. A failed ledger insert is retried and its offset not committed.
 * Poison records stay in the DLQ topic (counted and logged; there is nothing to redeliver).
 */
@Injectable()
export class LocationDlqConsumer implements OnApplicationBootstrap {
  private readonly logger = new Logger(LocationDlqConsumer.name);
  runner: KafkaConsumerRunner<DeadLetterMessage> | null = null;

  constructor(
    private readonly kafka: KafkaService,
    private readonly ledger: RetryLedgerRepository,
    private readonly clock: Clock,
    private readonly events: EventEmitter2,
    @Inject(locationConfig.KEY) private readonly config: LocationConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.consumersEnabled) return;
    this.runner = await this.kafka.startConsumer<DeadLetterMessage>({
      groupId: `${this.config.groupPrefix}-dlq`,
      topics: [this.config.dlqTopic],
      fromBeginning: true,
      parse: parseDeadLetter,
      attempts: 3,
      onExhausted: 'retry',
      isPermanent: (error) => PERMANENT_SQL.has((error as { code?: string }).code ?? ''),
      concurrency: 16,
      partitionsConsumedConcurrently: 3,
      spanName: 'location.ledger',
      handle: (message) => this.file(message),
      onPoison: (message, error) => {
        this.logger.warn(
          { err: error, partition: message.partition, offset: message.offset },
          'Dead letter kept in the DLQ topic only (no readable update in it)',
        );
        const tenant = message.headers?.['x-tenant-id']?.toString();
        ledgerOutcomes.inc({ outcome: 'unfiled', tenant_id: tenantLabel(tenant) });
        return Promise.resolve();
      },
    });
  }

  private async file(message: InboundMessage<DeadLetterMessage>): Promise<void> {
    const letter = message.body;
    const record = letter.record;
    if (letter.reason === 'poison' || !record) {
      this.logger.warn(
        { source: letter.source, error: letter.error },
        'Poison location record parked in the DLQ topic',
      );
      ledgerOutcomes.inc({ outcome: 'unfiled', tenant_id: tenantLabel(message.tenantId) });
      return;
    }
    if (record.tenant_id !== message.tenantId) {
      this.logger.warn(
        { offset: message.offset },
        'Dead letter names another tenant than its header',
      );
      return;
    }
    const now = this.clock.now();
    const status = letter.retryable ? 'pending' : 'permanently_failed';
    const inserted = await this.ledger.record({
      record,
      error: letter.error,
      statusCode: letter.status_code,
      attempts: letter.attempt,
      status,
      nextRetryAt: letter.retryable ? firstRetryAt(now, this.config.retry) : null,
      now,
      sourceTopic: letter.source.topic,
    });
    if (!inserted) return;
    ledgerOutcomes.inc({
      outcome: status === 'pending' ? 'recorded' : 'permanently_failed',
      tenant_id: tenantLabel(record.tenant_id),
    });
    emitLifecycleEvent(
      this.events,
      this.logger,
      LOCATION_UPDATE_DEAD_LETTERED,
      new LocationDeadLetteredEvent(
        record.tenant_id,
        record.session_id,
        record.event_id,
        letter.error,
      ),
    );
    if (status === 'permanently_failed') {
      emitLifecycleEvent(
        this.events,
        this.logger,
        LOCATION_UPDATE_PERMANENTLY_FAILED,
        new LocationPermanentlyFailedEvent(
          record.tenant_id,
          record.session_id,
          record.event_id,
          letter.error,
        ),
      );
    }
  }
}
