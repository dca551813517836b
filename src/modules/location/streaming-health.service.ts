import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { Admin } from 'kafkajs';
import { locationConfig, type LocationConfig } from '../../config';
import { KafkaService } from '../../shared/kafka';
import { DeliveryService } from './delivery.service';
import { LocationStreamerConsumer } from './location-streamer.consumer';

const STATES = ['closed', 'half_open', 'open'] as const;

/** `/streaming/health`: the streamer's state, its lag per partition, and each target's breaker. */
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

  async report() {
    const state = this.streamer.runner?.state ?? null;
    const consuming = state?.status === 'running';
    const lag = await this.lag().catch(() => null);
    const states = this.delivery.breakerStates();
    const breakers = Object.entries(states).map(([target, value]) => {
      const health = this.delivery.health.get(target);
      return {
        target,
        state: STATES[value],
        last_success_at: health?.lastSuccessAt?.toISOString() ?? null,
        last_error_at: health?.lastErrorAt?.toISOString() ?? null,
        last_error: health?.lastError ?? null,
      };
    });
    const successes = breakers.map((b) => b.last_success_at).filter(Boolean) as string[];
    const errors = breakers.map((b) => b.last_error_at).filter(Boolean) as string[];
    const lastSuccess = successes.sort().at(-1) ?? null;
    const lastError = errors.sort().at(-1) ?? null;
    const reachable =
      lastSuccess === null && lastError === null
        ? null
        : lastError === null || (lastSuccess !== null && lastSuccess > lastError);
    const anyOpen = breakers.some((b) => b.state !== 'closed');
    return {
      body: {
        status: !consuming
          ? ('down' as const)
          : anyOpen || lag === null
            ? ('degraded' as const)
            : ('ok' as const),
        consumer: {
          group_id: this.streamer.groupId,
          state: state?.status ?? (this.config.consumersEnabled ? 'starting' : 'disabled'),
          last_batch_at: state?.lastBatchAt?.toISOString() ?? null,
          last_error: state?.lastError ?? null,
        },
        lag: lag ?? [],
        total_lag: (lag ?? []).reduce((sum, p) => sum + p.lag, 0),
        breakers,
        third_party: { reachable },
      },
      consuming,
    };
  }

  private async lag(): Promise<Array<{ topic: string; partition: number; lag: number }>> {
    this.admin ??= (async () => {
      const admin = this.kafka.kafka.admin();
      await admin.connect();
      return admin;
    })();
    let admin: Admin;
    try {
      admin = await this.admin;
    } catch (error) {
      this.admin = null;
      throw error;
    }
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
