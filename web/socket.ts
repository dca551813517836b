import type { Credential } from './api';

export interface FeedEvent {
  id: string;
  tenant_id: string;
  seq: number;
  event_type: string;
  source: string;
  timestamp: string;
  metadata?: Record<string, unknown>;
  created_at?: string;
}

export type ConnectionState =
  | { state: 'connecting'; attempt: number }
  | { state: 'connected' }
  | { state: 'reconnecting'; inSeconds: number; attempt: number }
  | { state: 'closed' };

export interface SocketHandlers {
  onEvent(event: FeedEvent, live: boolean): void;
  onGap(data: unknown): void;
  onState(state: ConnectionState): void;
  /** The upgrade failed twice in a row without opening: the page checks the credential. */
  onRepeatedFailure(): void;
  onHello(data: { tenant_id: string; seq: number }): void;
}

const PROTOCOL = 'tessera.v1';
const MAX_BACKOFF_MS = 15_000;

/**
 * `/api/v1/ws` with the browser's subprotocol credentials. Every (re)connection resumes after the
 * highest seq seen (`subscribe` with `since_seq`), and seqs already seen are dropped, so the feed
 * has no duplicates and no holes across reconnects.
 */
export class FeedSocket {
  /** The highest seq received; resumes from here. */
  lastSeq: number | null = null;
  private readonly seen = new Set<number>();
  private socket?: WebSocket;
  private attempt = 0;
  private failuresWithoutOpen = 0;
  private timer?: number;
  private countdown?: number;
  private stopped = false;

  constructor(
    private readonly credential: Credential,
    private readonly handlers: SocketHandlers,
  ) {}

  /** Marks events loaded over HTTP as seen (and resumes after them). */
  markSeen(events: FeedEvent[]): void {
    for (const event of events) {
      this.seen.add(event.seq);
      if (this.lastSeq === null || event.seq > this.lastSeq) this.lastSeq = event.seq;
    }
  }

  hasSeen(seq: number): boolean {
    return this.seen.has(seq);
  }

  start(): void {
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.timer);
    window.clearInterval(this.countdown);
    this.socket?.close(1000, 'signed out');
    this.socket = undefined;
    this.handlers.onState({ state: 'closed' });
  }

  /** Drops the socket (as a network failure would); it reconnects with backoff. Used by tests too. */
  drop(): void {
    this.socket?.close(4000, 'dropped by the page');
  }

  private url(): string {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const tenant =
      this.credential.kind === 'bearer' && this.credential.tenantId
        ? `?tenant_id=${encodeURIComponent(this.credential.tenantId)}`
        : '';
    return `${scheme}//${location.host}/api/v1/ws${tenant}`;
  }

  private open(): void {
    this.attempt += 1;
    this.handlers.onState({ state: 'connecting', attempt: this.attempt });
    const credential =
      this.credential.kind === 'key'
        ? `key.${this.credential.apiKey}`
        : `bearer.${this.credential.token}`;
    let socket: WebSocket;
    try {
      socket = new WebSocket(this.url(), [PROTOCOL, credential]);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    let opened = false;
    socket.addEventListener('open', () => {
      opened = true;
      this.attempt = 0;
      this.failuresWithoutOpen = 0;
      this.handlers.onState({ state: 'connected' });
    });
    socket.addEventListener('message', (message: MessageEvent<unknown>) => {
      if (socket !== this.socket || typeof message.data !== 'string') return;
      this.receive(socket, message.data);
    });
    socket.addEventListener('close', (event: CloseEvent) => {
      if (socket !== this.socket) return;
      this.socket = undefined;
      if (this.stopped) return;
      if (!opened) this.failuresWithoutOpen += 1;
      // 4401/1008: the server ended the socket's credential (logout, revoked key …).
      if (this.failuresWithoutOpen >= 2 || event.code === 4401 || event.code === 1008)
        this.handlers.onRepeatedFailure();
      this.scheduleReconnect();
    });
  }

  private receive(socket: WebSocket, raw: string): void {
    let message: { type?: string; data?: unknown };
    try {
      message = JSON.parse(raw) as { type?: string; data?: unknown };
    } catch {
      return;
    }
    switch (message.type) {
      case 'hello': {
        const hello = message.data as { tenant_id: string; seq: number };
        this.handlers.onHello(hello);
        // Resume after what this page has; a first connection without history starts live.
        const since = this.lastSeq ?? hello.seq;
        if (this.lastSeq === null) this.lastSeq = since;
        socket.send(JSON.stringify({ event: 'subscribe', data: { since_seq: since } }));
        break;
      }
      case 'event': {
        const event = message.data as FeedEvent;
        if (typeof event?.seq !== 'number' || this.seen.has(event.seq)) return;
        this.seen.add(event.seq);
        if (this.lastSeq === null || event.seq > this.lastSeq) this.lastSeq = event.seq;
        this.handlers.onEvent(event, true);
        break;
      }
      case 'gap':
        this.handlers.onGap(message.data);
        break;
      default:
        break;
    }
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    // Exponential backoff with jitter: 0.5 s, 1 s, 2 s … up to 15 s.
    const base = Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.max(0, this.attempt - 1));
    const delay = Math.round(base * (0.5 + Math.random() * 0.5));
    let remaining = Math.ceil(delay / 1000);
    this.handlers.onState({ state: 'reconnecting', inSeconds: remaining, attempt: this.attempt });
    window.clearInterval(this.countdown);
    this.countdown = window.setInterval(() => {
      remaining = Math.max(0, remaining - 1);
      this.handlers.onState({ state: 'reconnecting', inSeconds: remaining, attempt: this.attempt });
    }, 1000);
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => {
      window.clearInterval(this.countdown);
      this.open();
    }, delay);
  }
}
