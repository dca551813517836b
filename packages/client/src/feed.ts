import type {
  FeedCloseReason,
  FeedEvent,
  FeedEvents,
  FeedGap,
  FeedHello,
  FeedOptions,
  FeedSocket,
  FeedSocketConstructor,
  FeedStats,
  FeedSubscribed,
} from './feed-types.js';

export type * from './feed-types.js';

/** The subprotocol the server answers; the credential rides in a second one. */
export const FEED_SUBPROTOCOL = 'tessera.v1';
const WS_PATH = '/api/v1/ws';
/** Close codes after which reconnecting cannot help: the credential is over. */
const CREDENTIAL_ENDED = new Set([4401, 1008]);
/** The code `drop()` closes with: a drop the client asked for, reconnected like any other. */
const DROP_CODE = 4000;

type Listener<T> = (value: T) => void;

interface Waiter {
  resolve: (result: IteratorResult<FeedEvent>) => void;
}

/**
 * The tenant's live feed over `/api/v1/ws`, for browsers and Node (no dependency: the platform's
 * WebSocket). Authenticates with the subprotocols `tessera.v1` + `key.<key>` / `bearer.<token>`,
 * subscribes with the type filter, and after any drop reconnects with exponential backoff and
 * jitter, resuming after the last seq it delivered (`since_seq`): every stored event reaches the
 * listeners once, in seq order, across reconnects and instance restarts. A credential the server
 * ends (4401) or refuses closes the feed for good with a typed reason.
 *
 * ```ts
 * const feed = new FeedClient({ baseUrl, credential: { apiKey } });
 * for await (const event of feed) console.log(event.seq, event.event_type);
 * ```
 */
export class FeedClient implements AsyncIterable<FeedEvent> {
  readonly stats: FeedStats = {
    received: 0,
    duplicates: 0,
    gaps: 0,
    connections: 0,
    reconnects: 0,
    drops: 0,
  };
  /** Set once the feed has ended; see also `closed`. */
  closeReason: FeedCloseReason | null = null;
  /** Resolves with the reason once the feed has ended for good. */
  readonly closed: Promise<FeedCloseReason>;

  private last: number | null;
  private socket: FeedSocket | null = null;
  private started = false;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly listeners = new Map<keyof FeedEvents, Set<Listener<never>>>();
  private readonly iterators = new Set<{ queue: FeedEvent[]; waiter: Waiter | null }>();
  private readonly url: string;
  private readonly protocols: string[];
  private readonly Socket: FeedSocketConstructor;
  private endClosed!: (reason: FeedCloseReason) => void;

  constructor(private readonly options: FeedOptions) {
    this.last = options.sinceSeq ?? null;
    this.url = feedUrl(options);
    const { credential } = options;
    this.protocols = [
      FEED_SUBPROTOCOL,
      'apiKey' in credential ? `key.${credential.apiKey}` : `bearer.${credential.token}`,
    ];
    const Socket =
      options.WebSocket ??
      ((globalThis as { WebSocket?: unknown }).WebSocket as FeedSocketConstructor | undefined);
    if (!Socket) throw new Error('No WebSocket here: pass options.WebSocket');
    this.Socket = Socket;
    this.closed = new Promise((resolve) => (this.endClosed = resolve));
  }

  /** The highest seq delivered (or given as `sinceSeq`): the next connection resumes after it. */
  get lastSeq(): number | null {
    return this.last;
  }

  /** True between `start()` and the end of the feed. */
  get running(): boolean {
    return this.started && !this.closeReason;
  }

  /** Opens the socket (once; iterating the feed starts it too). */
  start(): this {
    if (this.started || this.closeReason) return this;
    this.started = true;
    this.connect();
    return this;
  }

  /**
   * Counts `seq` as delivered (events the caller read over HTTP): the feed resumes after it and
   * drops it, and anything before it, if the socket brings it. Never moves backwards.
   */
  advanceTo(seq: number): void {
    if (this.last === null || seq > this.last) this.last = seq;
  }

  /** Ends the feed: no reconnect, iterators finish, `close` fires with `{kind: 'closed'}`. */
  close(reason = 'closed by the client'): void {
    this.finish({ kind: 'closed', code: 1000, reason });
  }

  /** Closes the current socket as a network failure would; the feed reconnects and resumes. */
  drop(): void {
    this.socket?.close(DROP_CODE, 'dropped by the client');
  }

  on<K extends keyof FeedEvents>(type: K, listener: Listener<FeedEvents[K]>): () => void {
    const set = this.listeners.get(type) ?? new Set();
    this.listeners.set(type, set.add(listener));
    return () => this.off(type, listener);
  }

  off<K extends keyof FeedEvents>(type: K, listener: Listener<FeedEvents[K]>): void {
    this.listeners.get(type)?.delete(listener);
  }

  /**
   * Events from now on, in seq order, each once; ends when the feed ends. Leaving the loop
   * (`break`, `return`, a throw) closes the feed.
   */
  [Symbol.asyncIterator](): AsyncIterator<FeedEvent> {
    const state = { queue: [] as FeedEvent[], waiter: null as Waiter | null };
    this.iterators.add(state);
    this.start();
    const done = (): IteratorResult<FeedEvent> => ({ done: true, value: undefined });
    return {
      next: () => {
        const event = state.queue.shift();
        if (event) return Promise.resolve({ done: false, value: event });
        if (this.closeReason) return Promise.resolve(done());
        return new Promise((resolve) => (state.waiter = { resolve }));
      },
      return: () => {
        this.iterators.delete(state);
        this.close('iteration ended');
        return Promise.resolve(done());
      },
    };
  }

  private emit<K extends keyof FeedEvents>(type: K, value: FeedEvents[K]): void {
    for (const listener of [...(this.listeners.get(type) ?? [])]) {
      try {
        (listener as Listener<FeedEvents[K]>)(value);
      } catch (error) {
        // A listener's failure must not stop the feed or the other listeners.
        if (type !== 'error') this.emit('error', asError(error));
      }
    }
  }

  private connect(): void {
    let socket: FeedSocket;
    try {
      socket = new this.Socket(this.url, this.protocols);
    } catch (error) {
      this.emit('error', asError(error));
      this.retry({ code: 1006, reason: 'could not open', opened: false });
      return;
    }
    this.socket = socket;
    let opened = false;
    socket.addEventListener('open', () => (opened = true));
    socket.addEventListener('message', (message) => {
      if (socket === this.socket && typeof message.data === 'string')
        this.receive(socket, message.data);
    });
    socket.addEventListener('error', () => {
      if (socket === this.socket && opened) this.emit('error', new Error('WebSocket error'));
    });
    socket.addEventListener('close', ({ code, reason }) => {
      if (socket !== this.socket) return;
      this.socket = null;
      if (this.closeReason) return;
      this.stats.drops++;
      if (CREDENTIAL_ENDED.has(code)) {
        this.finish({ kind: 'unauthorized', code: code as 4401 | 1008, reason });
        return;
      }
      if (opened) this.retry({ code, reason, opened });
      else void this.probeThenRetry(code, reason);
    });
  }

  private receive(socket: FeedSocket, raw: string): void {
    let message: { type?: unknown; data?: unknown };
    try {
      message = JSON.parse(raw) as { type?: unknown; data?: unknown };
    } catch {
      return;
    }
    switch (message.type) {
      case 'hello':
        return this.hello(socket, message.data as FeedHello);
      case 'event':
        return this.deliver(message.data as FeedEvent);
      case 'subscribed': {
        const subscribed = message.data as FeedSubscribed;
        // Everything up to `seq` that matches the filter has been written before this message.
        if (typeof subscribed?.seq === 'number') this.advanceTo(subscribed.seq);
        this.emit('subscribed', subscribed);
        return;
      }
      case 'gap': {
        const gap = message.data as FeedGap;
        this.stats.gaps++;
        // The server goes on after `seq`: resume from there next time, not from the hole again.
        if (typeof gap?.seq === 'number') this.advanceTo(gap.seq);
        this.emit('gap', gap);
        return;
      }
      case 'error': {
        const text = (message.data as { message?: unknown } | undefined)?.message;
        this.emit('error', new Error(`Feed: ${typeof text === 'string' ? text : 'error'}`));
        return;
      }
      default:
        return;
    }
  }

  private hello(socket: FeedSocket, hello: FeedHello): void {
    this.attempt = 0;
    this.stats.connections++;
    const reconnect = this.stats.connections > 1;
    if (reconnect) this.stats.reconnects++;
    // A first connection without history starts live; every later one resumes after the last seq.
    if (this.last === null && typeof hello?.seq === 'number') this.last = hello.seq;
    const data: { event_types?: string[]; since_seq?: number } = {};
    if (this.options.eventTypes?.length) data.event_types = this.options.eventTypes;
    if (this.last !== null) data.since_seq = this.last;
    socket.send(JSON.stringify({ type: 'subscribe', data }));
    this.emit('open', { reconnect, hello });
  }

  private deliver(event: FeedEvent): void {
    if (!event || typeof event !== 'object') return;
    if (typeof event.seq === 'number') {
      if (this.last !== null && event.seq <= this.last) {
        this.stats.duplicates++;
        return;
      }
      this.last = event.seq;
    }
    this.stats.received++;
    for (const state of this.iterators) {
      if (state.waiter) {
        const { resolve } = state.waiter;
        state.waiter = null;
        resolve({ done: false, value: event });
      } else state.queue.push(event);
    }
    this.emit('event', event);
  }

  /** A failed upgrade: ask the API whether the credential is refused before trying again. */
  private async probeThenRetry(code: number, reason: string): Promise<void> {
    const status = await this.probe();
    if (this.closeReason) return;
    if (status === 401 || status === 403) {
      this.finish({ kind: 'refused', status, reason: `the API answered ${status}` });
      return;
    }
    this.retry({ code, reason, opened: false });
  }

  private async probe(): Promise<number | null> {
    const fetcher = this.options.fetch ?? (globalThis as { fetch?: typeof fetch }).fetch;
    if (!fetcher) return null;
    const { credential } = this.options;
    const headers: Record<string, string> =
      'apiKey' in credential
        ? { 'x-api-key': credential.apiKey }
        : {
            authorization: `Bearer ${credential.token}`,
            ...(credential.tenantId ? { 'x-tenant-id': credential.tenantId } : {}),
          };
    try {
      const response = await fetcher(`${httpBase(this.options)}/api/v1/events?limit=1`, {
        headers,
      });
      await response.body?.cancel();
      return response.status;
    } catch {
      return null;
    }
  }

  private retry(closed: { code: number; reason: string; opened: boolean }): void {
    if (this.closeReason) return;
    this.attempt++;
    const { initialMs = 500, maxMs = 15_000 } = this.options.backoff ?? {};
    const ceiling = Math.min(maxMs, initialMs * 2 ** (this.attempt - 1));
    // Jitter: sockets dropped together (an instance restarting) come back spread out.
    const retryInMs = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    this.emit('disconnect', { ...closed, attempt: this.attempt, retryInMs });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (!this.closeReason) this.connect();
    }, retryInMs);
  }

  private finish(reason: FeedCloseReason): void {
    if (this.closeReason) return;
    this.closeReason = reason;
    clearTimeout(this.timer);
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      try {
        socket.close(1000, reason.kind === 'closed' ? reason.reason : 'feed closed');
      } catch {
        // already closing
      }
    }
    for (const state of this.iterators) {
      state.waiter?.resolve({ done: true, value: undefined });
      state.waiter = null;
    }
    this.endClosed(reason);
    this.emit('close', reason);
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** `http(s)://host` of the API, from `baseUrl` or the page. */
function httpBase(options: FeedOptions): string {
  const base =
    options.baseUrl ?? (globalThis as { location?: { origin: string } }).location?.origin;
  if (!base) throw new Error('No baseUrl: pass the API origin (https://…)');
  return base.replace(/^ws(s?):/, 'http$1:').replace(/\/+$/, '');
}

function feedUrl(options: FeedOptions): string {
  const url = new URL(WS_PATH, httpBase(options).replace(/^http(s?):/, 'ws$1:'));
  const { credential } = options;
  if ('token' in credential && credential.tenantId)
    url.searchParams.set('tenant_id', credential.tenantId);
  return url.toString();
}
