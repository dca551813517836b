import type { WebSocket } from 'ws';
import { eventsMetrics, type EventView } from '../events';
import type { Principal } from '../../shared/tenant-context';

/** One event as this instance pushes it: the frame is serialised once for every socket. */
export interface FeedItem {
  seq: number | null;
  eventType: string;
  frame: string;
}

export function feedItem(event: EventView | { seq: null; event_type: string }): FeedItem {
  return {
    seq: event.seq,
    eventType: event.event_type,
    frame: JSON.stringify({ type: 'event', data: event }),
  };
}

/** Close codes the feed uses besides the standard ones. */
export const CLOSE = {
  unauthorized: 4401,
  tryAgainLater: 1013,
  goingAway: 1001,
} as const;

/**
 * A socket of the feed: the seq it is at, its event type filter, and the live events held while a
 * replay runs. Writes never wait: a socket whose unsent bytes pass the bound is closed with 1013.
 */
export class FeedClient {
  /** Every event with seq ≤ lastSeq has been sent to this socket, filtered out or skipped. */
  lastSeq = 0;
  /** The seq at which this socket joined the live stream (its hello). */
  liveFrom = 0;
  types: Set<string> | null = null;
  /** Live events held while a replay from the database runs; null when live. */
  held: FeedItem[] | null = null;
  joined = false;
  /** Ends the hold on live events after hello when no subscribe comes. */
  holdTimer?: NodeJS.Timeout;
  private closing = false;
  /** Messages of this socket run one after another (subscribe replays before the next). */
  chain: Promise<void> = Promise.resolve();

  constructor(
    readonly socket: WebSocket,
    readonly principal: Principal & { tenantId: string },
    readonly keyId: string | undefined,
    private readonly maxBufferedBytes: number,
  ) {}

  get tenantId(): string {
    return this.principal.tenantId;
  }

  get open(): boolean {
    return !this.closing && this.socket.readyState === this.socket.OPEN;
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
    if (this.types && !this.types.has(item.eventType)) return false;
    return this.write(item.frame);
  }

  /** Sends a frame unless the socket is too far behind (then it is closed with 1013). */
  write(frame: string): boolean {
    if (!this.open) return false;
    if (this.socket.bufferedAmount > this.maxBufferedBytes) {
      eventsMetrics.wsClosed.inc({ reason: 'slow_reader' });
      this.close(CLOSE.tryAgainLater, 'reader too slow; reconnect with since_seq');
      return false;
    }
    this.socket.send(frame);
    return true;
  }

  send(message: unknown): boolean {
    return this.write(JSON.stringify(message));
  }

  close(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    this.held = null;
    clearTimeout(this.holdTimer);
    try {
      this.socket.close(code, reason);
    } catch {
      this.socket.terminate();
      return;
    }
    // A peer that reads nothing never gets to the close frame (queued behind what it did not
    // read): cut it off after a grace period.
    setTimeout(() => this.socket.terminate(), 10_000).unref();
  }
}
