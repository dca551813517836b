import type { WebSocket } from 'ws';
import type { Principal } from '../../shared/tenant-context';
import { type FeedSink, FeedSubscriber } from '../events';
import { wsClosed } from './realtime.metrics';

/** Close codes the gateway uses besides the standard ones. */
export const CLOSE = {
  unauthorized: 4401,
  tryAgainLater: 1013,
  goingAway: 1001,
} as const;

/**
 * A socket of `/api/v1/ws`: who it is (principal, API key) and its subscription to the tenant
 * feed, which it writes for. Writes never wait: a socket whose unsent bytes pass the bound is
 * closed with 1013.
 */
export class SocketClient implements FeedSink {
  readonly feed: FeedSubscriber;
  private closing = false;
  /** Messages of this socket run one after another (subscribe replays before the next). */
  chain: Promise<void> = Promise.resolve();

  constructor(
    readonly socket: WebSocket,
    readonly principal: Principal & { tenantId: string },
    readonly keyId: string | undefined,
    private readonly maxBufferedBytes: number,
  ) {
    this.feed = new FeedSubscriber(principal.tenantId, this);
  }

  get tenantId(): string {
    return this.principal.tenantId;
  }

  get open(): boolean {
    return !this.closing && this.socket.readyState === this.socket.OPEN;
  }

  /** Sends a frame unless the socket is too far behind (then it is closed with 1013). */
  write(frame: string): boolean {
    if (!this.open) return false;
    if (this.socket.bufferedAmount > this.maxBufferedBytes) {
      wsClosed.inc({ reason: 'slow_reader' });
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
    this.feed.stop();
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
