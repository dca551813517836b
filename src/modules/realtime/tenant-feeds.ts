import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { eventsConfig, type EventsConfig } from '../../config';
import { RedisService } from '../../shared/redis';
import { runInTenantContext } from '../../shared/tenant-context';
import {
  EventsBus,
  eventsMetrics,
  EventsService,
  type EventView,
  type FeedMessage,
} from '../events';
import { type FeedClient, type FeedItem, feedItem } from './feed-client';

const REPLAY_PAGE = 500;
/** How long a new socket's live events wait for its first subscribe. */
const SUBSCRIBE_WAIT_MS = 500;

/** Delivers what a socket held (in seq order, deduplicated) and turns it live. */
function release(client: FeedClient): void {
  clearTimeout(client.holdTimer);
  const held = client.held ?? [];
  client.held = null;
  for (const item of held) client.deliver(item);
}

/**
 * The live feed of one tenant on this instance: its sockets, and the seq it has delivered up to.
 * Publications can arrive out of order (two ingestions publish after their commits, in any order):
 * an event ahead of its predecessor waits `reorderWaitMs`, then the hole is read from the
 * database (every seq below a committed one is committed: the counter row serialises commits).
 */
class TenantFeed {
  readonly clients = new Set<FeedClient>();
  head: number | null = null;
  private readonly pending = new Map<number, FeedItem>();
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
      this.head = await feeds.currentSeq(tenantId);
      const early = this.early;
      this.early = [];
      for (const message of early) this.receive(message);
    });
  }

  receive(message: FeedMessage): void {
    if (this.head === null) {
      this.early.push(message);
      return;
    }
    for (const event of message.events) {
      if (event.seq === null) {
        this.emit(feedItem(event));
        continue;
      }
      if (event.seq <= this.head || this.pending.has(event.seq)) continue;
      this.pending.set(event.seq, feedItem(event));
    }
    this.drain();
    eventsMetrics.wsPushLatency.observe(Math.max(0, Date.now() - message.t) / 1000);
  }

  /** Events from the database after `head` (a hole, or what a Redis reconnect may have lost). */
  async catchUp(upTo = Number.MAX_SAFE_INTEGER): Promise<void> {
    if (this.head === null || this.filling) return;
    this.filling = true;
    try {
      for (;;) {
        const from: number = this.head;
        const rows = await this.feeds.read(this.tenantId, from, upTo, REPLAY_PAGE);
        for (const row of rows) if (row.seq > this.head) this.pending.set(row.seq, feedItem(row));
        this.drain();
        if (rows.length < REPLAY_PAGE || this.head === from) break;
      }
    } finally {
      this.filling = false;
    }
    if (this.pending.size) this.scheduleGapFill();
  }

  stop(): void {
    clearTimeout(this.gapTimer);
    this.gapTimer = undefined;
  }

  private drain(): void {
    while (this.head !== null && this.pending.has(this.head + 1)) {
      const item = this.pending.get(this.head + 1)!;
      this.pending.delete(this.head + 1);
      this.head += 1;
      this.emit(item);
    }
    if (this.pending.size) this.scheduleGapFill();
    else this.stop();
  }

  private scheduleGapFill(): void {
    if (this.gapTimer) return;
    this.gapTimer = setTimeout(() => {
      this.gapTimer = undefined;
      const lowest = Math.min(...this.pending.keys());
      this.catchUp(lowest - 1).catch((error: unknown) => {
        this.feeds.logger.warn(
          { err: error, tenantId: this.tenantId },
          'Feed hole not read; retrying',
        );
        this.scheduleGapFill();
      });
    }, this.feeds.config.ws.reorderWaitMs);
    this.gapTimer.unref();
  }

  private emit(item: FeedItem): void {
    let pushed = 0;
    for (const client of this.clients) if (client.deliver(item)) pushed++;
    if (pushed) eventsMetrics.wsPushes.inc(pushed);
  }
}

/**
 * Redis fan-out of the tenant feeds: this instance subscribes to the channel of each tenant it has
 * sockets for (and leaves it with the last socket), delivers in seq order, and replays for
 * `subscribe` with `since_seq`.
 */
@Injectable()
export class TenantFeeds implements OnApplicationShutdown {
  readonly logger = new Logger(TenantFeeds.name);
  private readonly feeds = new Map<string, TenantFeed>();
  private readonly subscriber: Redis;
  private readonly control = new Map<string, (message: string) => void>();
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

  /** A channel outside the tenant feeds (the socket revocations), on the same connection. */
  async listen(channel: string, handler: (message: string) => void): Promise<void> {
    this.control.set(channel, handler);
    await this.subscriber.subscribe(channel);
  }

  publishControl(channel: string, message: string, redis: RedisService): Promise<number> {
    return redis.client.publish(channel, message);
  }

  /** Adds the socket to its tenant's feed and answers `hello` with the seq it starts after. */
  async join(client: FeedClient): Promise<void> {
    let feed = this.feeds.get(client.tenantId);
    if (!feed) {
      const created = new TenantFeed(
        client.tenantId,
        this,
        this.subscriber.subscribe(this.bus.channel(client.tenantId)),
      );
      this.feeds.set(client.tenantId, created);
      feed = created;
      feed.ready.catch(() => {
        if (this.feeds.get(client.tenantId) === created) this.drop(created);
      });
    }
    feed.clients.add(client);
    await feed.ready;
    if (!client.open) return;
    client.lastSeq = client.liveFrom = feed.head!;
    client.joined = true;
    // The first live events wait (SUBSCRIBE_WAIT_MS at most) for the client's subscribe, so a
    // resuming client gets its replay before them: in seq order, not only without holes.
    client.held = [];
    client.holdTimer = setTimeout(() => release(client), SUBSCRIBE_WAIT_MS);
    client.holdTimer.unref();
    client.send({ type: 'hello', data: { tenant_id: client.tenantId, seq: feed.head } });
  }

  leave(client: FeedClient): void {
    const feed = this.feeds.get(client.tenantId);
    if (!feed?.clients.delete(client)) return;
    if (feed.clients.size === 0) this.drop(feed);
  }

  /**
   * `subscribe`: narrows the types, and with `sinceSeq` replays what the socket missed after it
   * (from the database, up to where its live stream started) before the live events held meanwhile.
   */
  async subscribe(
    client: FeedClient,
    types: string[] | undefined,
    sinceSeq: number | undefined,
  ): Promise<void> {
    if (!client.joined) {
      client.send({
        type: 'error',
        data: { message: 'The feed is not ready yet: subscribe again after hello' },
      });
      return;
    }
    clearTimeout(client.holdTimer);
    // Live events keep being held (since hello, or from now) until the replay is written.
    client.held ??= [];
    client.types = types?.length ? new Set(types) : null;
    const top = client.liveFrom;
    let seq = client.lastSeq;
    try {
      if (sinceSeq === undefined || !client.open) return;
      if (sinceSeq >= top) {
        client.lastSeq = seq = Math.max(client.lastSeq, sinceSeq);
      } else if (top - sinceSeq > this.config.ws.replayMax) {
        eventsMetrics.wsReplayed.inc({ kind: 'gap' });
        client.send({
          type: 'gap',
          data: { since_seq: sinceSeq, seq: top, replay_max: this.config.ws.replayMax },
        });
      } else {
        let cursor = sinceSeq;
        while (cursor < top && client.open) {
          const rows = await this.read(client.tenantId, cursor, top, REPLAY_PAGE, types);
          for (const row of rows) client.write(feedItem(row).frame);
          eventsMetrics.wsReplayed.inc({ kind: 'event' }, rows.length);
          if (rows.length < REPLAY_PAGE) break;
          cursor = rows[rows.length - 1].seq;
        }
        seq = top;
      }
    } finally {
      client.send({ type: 'subscribed', data: { event_types: types ?? null, seq } });
      release(client);
    }
  }

  /** Every socket of this instance (for closes by the gateway). */
  *clients(): Iterable<FeedClient> {
    for (const feed of this.feeds.values()) yield* feed.clients;
  }

  tenantClients(tenantId: string): Iterable<FeedClient> {
    return this.feeds.get(tenantId)?.clients ?? [];
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
    const control = this.control.get(channel);
    if (control) {
      try {
        control(raw);
      } catch (error) {
        this.logger.warn({ err: error, channel }, 'Unreadable control message dropped');
      }
      return;
    }
    const tenantId = this.bus.tenantOf(channel);
    const feed = tenantId ? this.feeds.get(tenantId) : undefined;
    if (!feed) return;
    try {
      feed.receive(JSON.parse(raw) as FeedMessage);
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
