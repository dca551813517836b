import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { eventsConfig, type EventsConfig } from '../../../config';
import { RedisService } from '../../../shared/redis';
import { runInTenantContext } from '../../../shared/tenant-context';
import type { EventView } from '../dto/events.dto';
import { wsPushes, wsPushLatency } from '../events.metrics';
import { EventsService } from '../events.service';
import { EventsBus, type FeedMessage } from './events-bus';
import { eventTraceId, inPushSpans } from './feed-tracing';
import { type FeedItem, feedItem, type FeedSubscriber, REPLAY_PAGE } from './feed-subscriber';
import { SeqOrder } from './seq-order';
import { tenantLabel } from '../../../shared/metrics';

/** How long a new subscriber's live events wait for its first subscribe. */
const SUBSCRIBE_WAIT_MS = 500;

/**
 * The live feed of one tenant on this instance: its subscribers, and the seq it has delivered up
 * to. Publications can arrive out of order (two ingestions publish after their commits, in any
 * order): an event ahead of its predecessor waits `reorderWaitMs`, then the hole is read from the
 * database (every seq below a committed one is committed: the counter row serialises commits).
 */
class TenantFeed {
  readonly subscribers = new Set<FeedSubscriber>();
  private order: SeqOrder<FeedItem> | null = null;
  private early: FeedMessage[] = [];
  private gapTimer?: NodeJS.Timeout;
  private filling = false;
  readonly ready: Promise<void>;

  constructor(
    readonly tenantId: string,
    private readonly feeds: TenantFeeds,
    subscribed: Promise<unknown>,
  ) {
    this.ready = subscribed.then(async () => {
      this.order = new SeqOrder(await feeds.currentSeq(tenantId));
      const early = this.early;
      this.early = [];
      for (const message of early) this.receive(message);
    });
  }

  /** The seq delivered up to; null until the feed has started. */
  get head(): number | null {
    return this.order?.head ?? null;
  }

  receive(message: FeedMessage): void {
    const order = this.order;
    if (!order) {
      this.early.push(message);
      return;
    }
    message.events.forEach((event, index) => {
      const traceId = eventTraceId(message, index);
      if (event.seq === null) this.emit(feedItem(event, traceId));
      else if (order.wants(event.seq)) order.offer(event.seq, feedItem(event, traceId));
    });
    this.drain(order);
    wsPushLatency.observe(
      { tenant_id: tenantLabel(this.tenantId) },
      Math.max(0, Date.now() - message.t) / 1000,
    );
  }

  /** Events from the database after `head` (a hole, or what a Redis reconnect may have lost). */
  async catchUp(upTo = Number.MAX_SAFE_INTEGER): Promise<void> {
    const order = this.order;
    if (!order || this.filling) return;
    this.filling = true;
    try {
      for (;;) {
        const from = order.head;
        const rows = await this.feeds.read(this.tenantId, from, upTo, REPLAY_PAGE);
        for (const row of rows) if (order.wants(row.seq)) order.offer(row.seq, feedItem(row));
        this.drain(order);
        if (rows.length < REPLAY_PAGE || order.head === from) break;
      }
    } finally {
      this.filling = false;
    }
    if (order.waiting) this.scheduleGapFill();
  }

  stop(): void {
    clearTimeout(this.gapTimer);
    this.gapTimer = undefined;
  }

  private drain(order: SeqOrder<FeedItem>): void {
    for (const item of order.drain()) this.emit(item);
    if (order.waiting) this.scheduleGapFill();
    else this.stop();
  }

  private scheduleGapFill(): void {
    if (this.gapTimer) return;
    this.gapTimer = setTimeout(() => {
      this.gapTimer = undefined;
      const hole = this.order?.hole();
      if (!hole) return;
      this.catchUp(hole.upTo).catch((error: unknown) => {
        this.feeds.logger.warn(
          { err: error, tenantId: this.tenantId },
          'Feed hole not read; retrying',
        );
        this.scheduleGapFill();
      });
    }, this.feeds.config.feed.reorderWaitMs);
    this.gapTimer.unref();
  }

  private emit(item: FeedItem): void {
    let pushed = 0;
    for (const subscriber of this.subscribers) if (subscriber.deliver(item)) pushed++;
    if (pushed) wsPushes.inc({ tenant_id: tenantLabel(this.tenantId) }, pushed);
  }
}

/**
 * Redis fan-out of the tenant feeds: this instance subscribes to the channel of each tenant it has
 * subscribers for (and leaves it with the last one), delivers in seq order, and replays for
 * `subscribe` with `since_seq`. Who the subscribers are (sockets) is the caller's business.
 */
@Injectable()
export class TenantFeeds implements OnApplicationShutdown {
  readonly logger = new Logger(TenantFeeds.name);
  private readonly feeds = new Map<string, TenantFeed>();
  private readonly subscriber: Redis;
  private connectedOnce = false;

  constructor(
    redis: RedisService,
    private readonly bus: EventsBus,
    private readonly events: EventsService,
    @Inject(eventsConfig.KEY) readonly config: EventsConfig,
  ) {
    this.subscriber = redis.createSubscriber('events-feed');
    this.subscriber.on('message', (channel: string, raw: string) => this.onMessage(channel, raw));
    this.subscriber.on('ready', () => {
      if (this.connectedOnce)
        for (const feed of this.feeds.values()) void feed.catchUp().catch(() => undefined);
      this.connectedOnce = true;
    });
  }

  /** Adds the subscriber to its tenant's feed and answers `hello` with the seq it starts after. */
  async join(subscriber: FeedSubscriber): Promise<void> {
    const tenantId = subscriber.tenantId;
    let feed = this.feeds.get(tenantId);
    if (!feed) {
      const created = new TenantFeed(
        tenantId,
        this,
        this.subscriber.subscribe(this.bus.channel(tenantId)),
      );
      this.feeds.set(tenantId, created);
      feed = created;
      feed.ready.catch(() => {
        if (this.feeds.get(tenantId) === created) this.drop(created);
      });
    }
    feed.subscribers.add(subscriber);
    await feed.ready;
    if (!subscriber.open) return;
    // The first live events wait (SUBSCRIBE_WAIT_MS at most) for the client's subscribe, so a
    // resuming client gets its replay before them: in seq order, not only without holes.
    subscriber.joinAt(feed.head!);
    subscriber.holdTimer = setTimeout(() => subscriber.release(), SUBSCRIBE_WAIT_MS);
    subscriber.holdTimer.unref();
    subscriber.hello({ tenant_id: tenantId, seq: feed.head! });
  }

  leave(subscriber: FeedSubscriber): void {
    const feed = this.feeds.get(subscriber.tenantId);
    if (!feed?.subscribers.delete(subscriber)) return;
    if (feed.subscribers.size === 0) this.drop(feed);
  }

  /** `subscribe` of one subscriber: its types, and the replay after `sinceSeq` (FeedSubscriber.resume). */
  subscribe(
    subscriber: FeedSubscriber,
    types: string[] | undefined,
    sinceSeq: number | undefined,
  ): Promise<void> {
    return subscriber.resume(
      types,
      sinceSeq,
      (after, upTo, limit, only) => this.read(subscriber.tenantId, after, upTo, limit, only),
      this.config.feed.replayMax,
    );
  }

  currentSeq(tenantId: string): Promise<number> {
    return this.asTenant(tenantId, () => this.events.currentSeq(tenantId));
  }

  read(
    tenantId: string,
    after: number,
    upTo: number,
    limit: number,
    types?: string[],
  ): Promise<EventView[]> {
    return this.asTenant(tenantId, () => this.events.replay(tenantId, after, upTo, limit, types));
  }

  onApplicationShutdown(): void {
    for (const feed of this.feeds.values()) feed.stop();
    this.feeds.clear();
  }

  private drop(feed: TenantFeed): void {
    feed.stop();
    this.feeds.delete(feed.tenantId);
    this.subscriber.unsubscribe(this.bus.channel(feed.tenantId)).catch(() => undefined);
  }

  private onMessage(channel: string, raw: string): void {
    const tenantId = this.bus.tenantOf(channel);
    const feed = tenantId ? this.feeds.get(tenantId) : undefined;
    if (!feed) return;
    try {
      const message = JSON.parse(raw) as FeedMessage;
      inPushSpans(feed.tenantId, message, () => feed.receive(message));
    } catch (error) {
      this.logger.warn({ err: error, tenantId }, 'Unreadable feed message dropped');
    }
  }

  private asTenant<T>(tenantId: string, work: () => Promise<T>): Promise<T> {
    return runInTenantContext(
      { transport: 'internal', principal: { tenantId, isPlatformAdmin: false, via: 'message' } },
      work,
    );
  }
}
