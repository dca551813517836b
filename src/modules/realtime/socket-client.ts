import type { WebSocket } from 'ws';
import type { Principal } from '../../shared/tenant-context';
import { type FeedSink, FeedSubscriber } from '../events';
import { wsClosed, wsHeldBeforeHello } from './realtime.metrics';
import { tenantLabel } from '../../shared/metrics';

/** Close codes the gateway uses besides the standard ones. */
export const CLOSE = {
  unauthorized: 4401,
  tryAgainLater: 1013,
  goingAway: 1001,
} as const;

type Send = (data: unknown, ...rest: unknown[]) => void;

/**
 * A socket of `/api/v1/ws`: who it is (principal, API key) and its subscription to the tenant
 * feed, which it writes for. Writes never wait: a socket whose unsent bytes pass the bound is
 * closed with 1013.
 *
 * `hello` is the first frame of every socket: until `greet` sends it, every other frame (a
 * `whoami` answer, an error, an event) is held, whoever sends it (this class, Nest's answer to a
 * handler, the error filter: the socket's own `send` goes through the hold), then sent after it.
 */
export class SocketClient implements FeedSink {
  readonly feed: FeedSubscriber;
  private closing = false;
  /** Messages of this socket run one after another (subscribe replays before the next). */
  chain: Promise<void> = Promise.resolve();
  /** Settles once `hello` is sent (or the socket closed before it). */
  readonly greeted: Promise<void>;
  private onGreeted!: () => void;
  /** Frames waiting for `hello`; null once it is sent. */
  private early: Array<() => void> | null = [];
  private earlyBytes = 0;
  private readonly sendNow: Send;

  constructor(
    readonly socket: WebSocket,
    readonly principal: Principal & { tenantId: string },
    readonly keyId: string | undefined,
    private readonly maxBufferedBytes: number,
  ) {
    const owner = principal.isPlatformAdmin || principal.role === 'tenant_owner';
    this.feed = new FeedSubscriber(principal.tenantId, this, owner);
    this.greeted = new Promise((resolve) => (this.onGreeted = resolve));
    socket.once('close', () => this.onGreeted());
    const sendNow = (socket.send as Send).bind(socket);
    this.sendNow = sendNow;
    socket.send = ((data: unknown, ...rest: unknown[]) => {
      if (!this.early) return sendNow(data, ...rest);
      this.hold(() => sendNow(data, ...rest), byteLength(data));
    }) as WebSocket['send'];
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
      wsClosed.inc({ reason: 'slow_reader', tenant_id: tenantLabel(this.tenantId) });
      this.close(CLOSE.tryAgainLater, 'reader too slow; reconnect with since_seq');
      return false;
    }
    this.socket.send(frame);
    return true;
  }

  send(message: unknown): boolean {
    return this.write(JSON.stringify(message));
  }

  /** Sends `hello`, then what was held for it. */
  greet(frame: string): boolean {
    const early = this.early;
    if (!this.open || !early) return false;
    this.early = null;
    this.earlyBytes = 0;
    this.sendNow(frame);
    for (const send of early) send();
    this.onGreeted();
    return true;
  }

  /** A frame before hello waits, within the same bound as unsent bytes. */
  private hold(send: () => void, bytes: number): void {
    if (!this.open || !this.early) return;
    this.earlyBytes += bytes;
    if (this.earlyBytes > this.maxBufferedBytes) {
      wsClosed.inc({ reason: 'slow_reader', tenant_id: tenantLabel(this.tenantId) });
      this.close(CLOSE.tryAgainLater, 'too much before hello; reconnect');
      return;
    }
    this.early.push(send);
    wsHeldBeforeHello.inc({ tenant_id: tenantLabel(this.tenantId) });
  }

  close(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    this.early = null;
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

function byteLength(data: unknown): number {
  if (typeof data === 'string') return Buffer.byteLength(data);
  return (data as { byteLength?: number } | null)?.byteLength ?? 0;
}
