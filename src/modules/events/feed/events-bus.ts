import { Inject, Injectable, Logger } from '@nestjs/common';
import { redisConfig, type RedisConfig } from '../../../config';
import { RedisService } from '../../../shared/redis';
import type { EventView } from '../dto/events.dto';
import { startFanout } from './feed-tracing';

/** What travels on a tenant's Redis channel: events in `seq` order, or live-only facts (`seq` null). */
export interface FeedMessage {
  /** Publication time (ms since epoch), for the push latency. */
  t: number;
  events: Array<EventView | LiveOnlyEvent>;
  /** Tracing on: each event's W3C traceparent (parallel to `events`; null for none). */
  tp?: Array<string | null>;
}

/**
 * A fact pushed live but not stored in the feed: it has no `seq` and cannot be replayed. With
 * `audience: 'owners'` only the tenant's owners' (and platform admins') sockets get it.
 */
export type LiveOnlyEvent = Omit<EventView, 'seq' | 'id'> & {
  id: null;
  seq: null;
  audience?: 'owners';
};

/** The Redis channels of the feed. Every instance subscribes to the tenants it has sockets for. */
@Injectable()
export class EventsBus {
  private readonly logger = new Logger(EventsBus.name);
  private readonly prefix: string;

  constructor(
    private readonly redis: RedisService,
    @Inject(redisConfig.KEY) config: RedisConfig,
  ) {
    this.prefix = `${config.keyPrefix}events:`;
  }

  channel(tenantId: string): string {
    return this.prefix + tenantId;
  }

  tenantOf(channel: string): string | undefined {
    return channel.startsWith(this.prefix) ? channel.slice(this.prefix.length) : undefined;
  }

  /**
   * Publishes after commit. A lost publication is not a lost event: a subscriber that sees a
   * later `seq` reads the hole from the database.
   */
  async publish(
    tenantId: string,
    events: FeedMessage['events'],
    traceparents?: ReadonlyArray<string | null | undefined>,
  ): Promise<void> {
    if (events.length === 0) return;
    const message: FeedMessage = { t: Date.now(), events };
    const fanout = startFanout(tenantId, traceparents);
    if (fanout) message.tp = fanout.tp;
    try {
      await this.redis.client.publish(this.channel(tenantId), JSON.stringify(message));
      fanout?.end();
    } catch (error) {
      fanout?.end(error);
      this.logger.warn(
        { err: error, tenantId },
        'Event publication failed; subscribers catch up from the database',
      );
    }
  }
}
