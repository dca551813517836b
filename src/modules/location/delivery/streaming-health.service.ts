import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { Admin } from 'kafkajs';
import { locationConfig, type LocationConfig } from '../../../config';
import { KafkaService } from '../../../shared/kafka';
import { DeliveryService } from './delivery.service';
import { LocationStreamerConsumer } from './location-streamer.consumer';

/**
 * `/streaming/health`: the streamer's state, its lag per partition, and each (tenant, target)
 * breaker with its last success and error.
 */
@Injectable()
export class StreamingHealthService implements OnApplicationShutdown {
  private admin: Promise<Admin> | null = null;

  constructor(
    private readonly kafka: KafkaService,
    private readonly streamer: LocationStreamerConsumer,
    private readonly delivery: DeliveryService,
    @Inject(locationConfig.KEY) private readonly config: LocationConfig,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    const admin = await this.admin?.catch(() => null);
    await admin?.disconnect();
  }

  /**
   * The report for one tenant (`tenantId`: its own targets, breakers and errors only) or, with
   * null, for a platform admin (every tenant's, each naming its tenant). The consumer's last
   * error may concern any tenant, so only the all-tenants view shows it.
   */
  async report(tenantId: string | null) {
    const state = this.streamer.runner?.state ?? null;
    // A process that runs no consumers (TESSERA_ROLE=api) reports the group's members elsewhere.
    const elsewhere = this.config.consumersEnabled
      ? null
      : await this.groupMembers().catch(() => null);
    const consuming = elsewhere === null ? state?.status === 'running' : elsewhere > 0;
    const lag = await this.lag().catch(() => null);
    const breakers = this.delivery.targetHealth(tenantId).map((t) => ({
      tenant_id: t.tenantId,
      target: t.target,
      state: t.state,
      last_success_at: t.lastSuccessAt?.toISOString() ?? null,
      last_error_at: t.lastErrorAt?.toISOString() ?? null,
      last_error: t.lastError,
      reachable: reachable(t.lastSuccessAt, t.lastErrorAt),
    }));
    const successes = breakers.map((b) => b.last_success_at).filter(Boolean) as string[];
    const errors = breakers.map((b) => b.last_error_at).filter(Boolean) as string[];
    const lastSuccess = successes.sort().at(-1) ?? null;
    const lastError = errors.sort().at(-1) ?? null;
    const anyOpen = breakers.some((b) => b.state !== 'closed');
    // A target whose latest delivery failed (refused, 4xx, down) is not "ok", open breaker or not.
    const anyFailing = breakers.some((b) => b.reachable === false);
    return {
      body: {
        status: !consuming
          ? ('down' as const)
          : anyOpen || anyFailing || lag === null
            ? ('degraded' as const)
            : ('ok' as const),
        consumer: {
          group_id: this.streamer.groupId,
          state:
            state?.status ??
            (this.config.consumersEnabled ? 'starting' : consuming ? 'elsewhere' : 'disabled'),
          last_batch_at: state?.lastBatchAt?.toISOString() ?? null,
          last_error: tenantId === null ? (state?.lastError ?? null) : null,
        },
        lag: lag ?? [],
        total_lag: (lag ?? []).reduce((sum, p) => sum + p.lag, 0),
        breakers,
        third_party: {
          reachable: reachable(
            lastSuccess === null ? null : new Date(lastSuccess),
            lastError === null ? null : new Date(lastError),
          ),
        },
      },
      consuming,
    };
  }

  /** Members of the streamer's group (in other processes when none run here). */
  private async groupMembers(): Promise<number> {
    const admin = await this.connectedAdmin();
    const { groups } = await admin.describeGroups([this.streamer.groupId]);
    const group = groups[0];
    return group?.state === 'Stable' ? group.members.length : 0;
  }

  private async connectedAdmin(): Promise<Admin> {
    this.admin ??= (async () => {
      const admin = this.kafka.kafka.admin();
      await admin.connect();
      return admin;
    })();
    try {
      return await this.admin;
    } catch (error) {
      this.admin = null;
      throw error;
    }
  }

  private async lag(): Promise<Array<{ topic: string; partition: number; lag: number }>> {
    const admin = await this.connectedAdmin();
    const topic = this.config.topic;
    const [ends, [committed]] = await Promise.all([
      admin.fetchTopicOffsets(topic),
      admin.fetchOffsets({ groupId: this.streamer.groupId, topics: [topic] }),
    ]);
    return ends.map((end) => {
      const done = committed?.partitions.find((p) => p.partition === end.partition);
      const high = Number(end.high ?? end.offset);
      const low = Number(end.low);
      const at = done && Number(done.offset) >= 0 ? Number(done.offset) : low;
      return { topic, partition: end.partition, lag: Math.max(0, high - at) };
    });
  }
}

/** null: nothing delivered yet; else whether the latest outcome was a success. */
function reachable(lastSuccess: Date | null, lastError: Date | null): boolean | null {
  if (lastSuccess === null && lastError === null) return null;
  return lastError === null || (lastSuccess !== null && lastSuccess > lastError);
}
