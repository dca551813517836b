import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { locationConfig, type LocationConfig } from '../../../config';
import {
  handleByTenant,
  type InboundMessage,
  isClientAppError,
  KafkaConsumerRunner,
  KafkaService,
} from '../../../shared/kafka';
import { TenantDatabase } from '../../tenancy';
import { lagSeconds, locationsPersisted, persistLagSeconds } from '../location.metrics';
import { type LocationUpdateMessage, parseLocationUpdate } from './location-update.message';
import { tenantLabel } from '../../../shared/metrics';

const CHUNK = 1_000;

/**
 * Writes every update into its tenant's `locations`: one multi-row insert per tenant per
 * fetched batch (tenants written side by side), idempotent on `event_id` (a redelivered batch
 * writes nothing twice). A tenant whose writes still fail after three attempts is parked by the
 * shared runner: its records go to `<topic>.parked`, where a resume consumer retries them with
 * capped backoff until its database is back, while every other tenant's records keep being
 * written. Nothing is skipped; a record that cannot be read is left to the streamer, which
 * dead-letters it.
 */
@Injectable()
export class LocationPersisterConsumer implements OnApplicationBootstrap {
  private readonly logger = new Logger(LocationPersisterConsumer.name);
  runner: KafkaConsumerRunner<LocationUpdateMessage> | null = null;

  constructor(
    private readonly kafka: KafkaService,
    private readonly tenantDb: TenantDatabase,
    @Inject(locationConfig.KEY) private readonly config: LocationConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.consumersEnabled) return;
    this.runner = await this.kafka.startConsumer<LocationUpdateMessage>({
      groupId: `${this.config.groupPrefix}-persister`,
      topics: [this.config.topic],
      fromBeginning: true,
      parse: parseLocationUpdate,
      attempts: 3,
      onExhausted: 'park',
      isPermanent: isClientAppError,
      partitionsConsumedConcurrently: 3,
      spanName: 'location.persist',
      handleBatch: (messages) =>
        handleByTenant(messages, (tenantId, own) => this.persist(tenantId, own)),
      onPoison: (message, error) => {
        this.logger.warn(
          {
            err: error,
            topic: message.topic,
            partition: message.partition,
            offset: message.offset,
          },
          'Location record not persisted (unreadable, or its tenant is gone)',
        );
        return Promise.resolve();
      },
    });
  }

  private async persist(
    tenantId: string,
    messages: InboundMessage<LocationUpdateMessage>[],
  ): Promise<void> {
    // The header is the producer's stamped tenant: a body naming another is not trusted.
    const records = messages
      .filter((message) => message.body.tenant_id === tenantId)
      .map((message) => message.body);
    for (let i = 0; i < records.length; i += CHUNK) {
      const chunk = records.slice(i, i + CHUNK);
      const inserted = await this.tenantDb.runFor(tenantId, async (manager) => {
        const params: unknown[] = [];
        const rows = chunk.map((r) => {
          params.push(
            r.event_id,
            tenantId,
            r.session_id,
            r.user_id,
            r.latitude,
            r.longitude,
            r.accuracy,
            r.recorded_at,
            r.received_at,
          );
          const n = params.length;
          return `($${n - 8}::uuid, $${n - 7}::uuid, $${n - 6}::uuid, $${n - 5}, $${n - 4}::float8, $${n - 3}::float8, $${n - 2}::float8, $${n - 1}::timestamptz, $${n}::timestamptz)`;
        });
        const result = await manager.query<Array<{ event_id: string }>>(
          `insert into locations (event_id, tenant_id, session_id, user_id, latitude, longitude, accuracy, recorded_at, received_at)
           values ${rows.join(', ')}
           on conflict (event_id) do nothing
           returning event_id`,
          params,
        );
        return result.length;
      });
      const tenant = tenantLabel(tenantId);
      locationsPersisted.inc({ tenant_id: tenant }, inserted);
      const now = Date.now();
      for (const r of chunk)
        persistLagSeconds.observe({ tenant_id: tenant }, lagSeconds(now, r.received_at));
    }
  }
}
