import type { EventView } from '../dto/events.dto';
import { wsReplayed } from '../events.metrics';
import { tenantLabel } from '../../../shared/metrics';

/** One event as this instance pushes it: the frame is serialised once for every subscriber. */
export interface FeedItem {
  seq: number | null;
  eventType: string;
  frame: string;
  /** Only for subscribers that are owners of the tenant (or platform admins). */
  ownersOnly: boolean;
}

export function feedItem(
  event: EventView | { seq: null; event_type: string; audience?: 'owners' },
  /** Tracing on: the trace the event came from (`trace_id` in the frame). */
  traceId?: string,
): FeedItem {
  // The audience steers delivery; it is not part of the event.
  const { audience, ...data } = event as typeof event & { audience?: 'owners' };
  return {
    seq: event.seq,
    eventType: event.event_type,
    frame: JSON.stringify({ type: 'event', data, ...(traceId ? { trace_id: traceId } : {}) }),
    ownersOnly: audience === 'owners',
  };
}

/**
 * Where a subscriber's frames go (a socket): `write` answers whether the frame was sent (or held
 * for hello); `greet` sends `hello`, the first frame (the sink holds anything written before it).
 */
export interface FeedSink {
  readonly open: boolean;
  write(frame: string): boolean;
  greet(frame: string): boolean;
}

/** Reads the tenant's events `after < seq ≤ upTo` in seq order, at most `limit`, of `types` if given. */
export type FeedReader = (
  after: number,
  upTo: number,
  limit: number,
  types?: string[],
) => Promise<EventView[]>;

export const REPLAY_PAGE = 500;

/**
 * One subscriber of a tenant feed: the seq it is at, its event type filter, and the live events
 * held while a replay runs. Its sink writes the frames.
 */
export class FeedSubscriber {
  /** Every event with seq ≤ lastSeq has been sent to this subscriber, filtered out or skipped. */
  lastSeq = 0;
  /** The seq at which this subscriber joined the live stream (its hello). */
  liveFrom = 0;
  types: Set<string> | null = null;
  /** Live events held while a replay from the database runs; null when live. */
  held: FeedItem[] | null = null;
  joined = false;
  /** Ends the hold on live events after hello when no subscribe comes. */
  holdTimer?: NodeJS.Timeout;

  constructor(
    readonly tenantId: string,
    private readonly sink: FeedSink,
    /** An owner of the tenant or a platform admin: gets the owners-only facts (the audit trail). */
    readonly owner = false,
  ) {}

  get open(): boolean {
    return this.sink.open;
  }

  /** Joins the live stream after `head`, holding live events until `release`. */
  joinAt(head: number): void {
    this.lastSeq = this.liveFrom = head;
    this.joined = true;
    this.held = [];
  }

  /** A live event, in seq order: held during a replay, deduplicated by seq, filtered by type. */
  deliver(item: FeedItem): boolean {
    if (!this.joined) return false;
    if (this.held) {
      this.held.push(item);
      return false;
    }
    if (item.seq !== null) {
      if (item.seq <= this.lastSeq) return false;
      this.lastSeq = item.seq;
    }
    if (item.ownersOnly && !this.owner) return false;
    if (this.types && !this.types.has(item.eventType)) return false;
    return this.sink.write(item.frame);
  }

  send(message: unknown): boolean {
    return this.sink.write(JSON.stringify(message));
  }

  /** `hello`: where this subscriber's live stream starts. */
  hello(data: { tenant_id: string; seq: number }): boolean {
    return this.sink.greet(JSON.stringify({ type: 'hello', data }));
  }

  /** Delivers what was held (in seq order, deduplicated) and turns live. */
  release(): void {
    clearTimeout(this.holdTimer);
    const held = this.held ?? [];
    this.held = null;
    for (const item of held) this.deliver(item);
  }

  /** The sink closed: nothing is held any more. */
  stop(): void {
    this.held = null;
    clearTimeout(this.holdTimer);
  }

  /**
   * `subscribe`: narrows the types, and with `sinceSeq` replays what the subscriber missed after it
   * (up to where its live stream started) before the live events held meanwhile, deduplicated by
   * seq; more than `replayMax` behind answers `gap` instead. Then `subscribed`, and live.
   */
  async resume(
    types: string[] | undefined,
    sinceSeq: number | undefined,
    read: FeedReader,
    replayMax: number,
    page = REPLAY_PAGE,
  ): Promise<void> {
    if (!this.joined) {
      this.send({
        type: 'error',
        data: { message: 'The feed is not ready yet: subscribe again after hello' },
      });
      return;
    }
    clearTimeout(this.holdTimer);
    // Live events keep being held (since hello, or from now) until the replay is written.
    this.held ??= [];
    this.types = types?.length ? new Set(types) : null;
    const top = this.liveFrom;
    let seq = this.lastSeq;
    try {
      if (sinceSeq === undefined || !this.open) return;
      if (sinceSeq >= top) {
        this.lastSeq = seq = Math.max(this.lastSeq, sinceSeq);
      } else if (top - sinceSeq > replayMax) {
        wsReplayed.inc({ kind: 'gap', tenant_id: tenantLabel(this.tenantId) });
        this.send({ type: 'gap', data: { since_seq: sinceSeq, seq: top, replay_max: replayMax } });
      } else {
        let cursor = sinceSeq;
        while (cursor < top && this.open) {
          const rows = await read(cursor, top, page, types);
          for (const row of rows) this.sink.write(feedItem(row).frame);
          wsReplayed.inc({ kind: 'event', tenant_id: tenantLabel(this.tenantId) }, rows.length);
          if (rows.length < page) break;
          cursor = rows[rows.length - 1].seq;
        }
        seq = top;
      }
    } finally {
      this.send({ type: 'subscribed', data: { event_types: types ?? null, seq } });
      this.release();
    }
  }
}
