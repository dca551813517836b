import fc from 'fast-check';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import {
  FeedClient,
  type FeedEvent,
  type FeedOptions,
  type FeedSocketConstructor,
} from '../src/feed.js';

/**
 * FeedClient against a real local WebSocket server (`ws`) that speaks the feed's protocol as each
 * test scripts it: hello, subscribe, events (with the duplicates a replay can overlap), gaps,
 * drops and close codes. The client uses Node's own WebSocket, as an application would.
 */

interface Subscribe {
  event_types?: string[];
  since_seq?: number;
}

interface Connection {
  socket: WebSocket;
  request: IncomingMessage;
  /** The first `subscribe` this socket sent. */
  subscribed: Promise<Subscribe>;
}

class FeedServer {
  readonly connections: Connection[] = [];
  /** Refuse the next upgrades with these statuses (in order). */
  refusals: number[] = [];
  /** Refuse every upgrade with this status (Node's WebSocket asks again once after a 401). */
  refuseAll: number | undefined;
  /** What `GET /api/v1/events` answers (the client's probe after a failed upgrade). */
  probeStatus = 200;
  probes = 0;
  onConnection: (connection: Connection, index: number) => void = () => undefined;
  private readonly http: Server;
  private readonly wss: WebSocketServer;

  private constructor() {
    this.http = createServer((request, response) => {
      if (request.url?.startsWith('/api/v1/events')) this.probes++;
      response.writeHead(this.probeStatus, { 'content-type': 'application/json' }).end('{}');
    });
    this.wss = new WebSocketServer({
      server: this.http,
      path: '/api/v1/ws',
      handleProtocols: (protocols) => (protocols.has('tessera.v1') ? 'tessera.v1' : false),
      verifyClient: (_info, done) => {
        const status = this.refusals.shift() ?? this.refuseAll;
        if (status) done(false, status, 'refused');
        else done(true);
      },
    });
    this.wss.on('connection', (socket, request) => {
      const subscribed = new Promise<Subscribe>((resolve) =>
        socket.on('message', (raw: Buffer) => {
          const message = JSON.parse(raw.toString()) as { type?: string; data?: Subscribe };
          if (message.type === 'subscribe') resolve(message.data ?? {});
        }),
      );
      const connection = { socket, request, subscribed };
      this.connections.push(connection);
      this.onConnection(connection, this.connections.length - 1);
    });
  }

  static async start(): Promise<FeedServer> {
    const server = new FeedServer();
    await new Promise<void>((resolve) => server.http.listen(0, '127.0.0.1', resolve));
    return server;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${(this.http.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    await new Promise((resolve) => this.wss.close(resolve));
    await new Promise((resolve) => this.http.close(resolve));
  }
}

const event = (seq: number | null, type = 'order.created'): FeedEvent => ({
  id: seq === null ? null : `e-${seq}`,
  tenant_id: 't-1',
  seq,
  event_type: type,
  source: 'api',
  timestamp: '2026-01-01T00:00:00.000Z',
  metadata: { seq },
});

function send(socket: WebSocket, type: string, data: unknown): void {
  socket.send(JSON.stringify({ type, data }));
}

function sendEvents(socket: WebSocket, seqs: number[]): void {
  for (const seq of seqs) send(socket, 'event', event(seq));
}

async function take(feed: FeedClient, count: number): Promise<FeedEvent[]> {
  const got: FeedEvent[] = [];
  for await (const item of feed) {
    got.push(item);
    if (got.length === count) break;
  }
  return got;
}

describe('FeedClient', () => {
  let server: FeedServer;
  const feeds: FeedClient[] = [];
  const feedOf = (options: Partial<FeedOptions> = {}) => {
    const feed = new FeedClient({
      baseUrl: server.baseUrl,
      credential: { apiKey: 'tsk_test' },
      backoff: { initialMs: 5, maxMs: 20 },
      // Node's own WebSocket (the test environment's global may lack it).
      WebSocket: WebSocket_,
      ...options,
    });
    feeds.push(feed);
    return feed;
  };

  beforeEach(async () => {
    server = await FeedServer.start();
  });
  afterEach(async () => {
    for (const feed of feeds.splice(0)) feed.close();
    await server.close();
  });

  it('resumes after the last seq on every reconnect and drops the replayed duplicates', async () => {
    server.onConnection = ({ socket, subscribed }, index) => {
      void (async () => {
        if (index === 0) {
          send(socket, 'hello', { tenant_id: 't-1', seq: 0 });
          await subscribed;
          sendEvents(socket, [1, 2, 3, 4, 5]);
          setImmediate(() => socket.terminate()); // a network drop: no close frame
        } else if (index === 1) {
          send(socket, 'hello', { tenant_id: 't-1', seq: 7 });
          await subscribed;
          sendEvents(socket, [3, 4, 5, 6, 7]); // a replay overlapping what came before
          send(socket, 'subscribed', { event_types: ['order.created'], seq: 7 });
          sendEvents(socket, [8]);
          socket.close(1012, 'service restart');
        } else {
          send(socket, 'hello', { tenant_id: 't-1', seq: 8 });
          await subscribed;
          sendEvents(socket, [8, 9, 10]);
        }
      })();
    };
    const feed = feedOf({ eventTypes: ['order.created'] });
    const disconnects: number[] = [];
    feed.on('disconnect', ({ code }) => disconnects.push(code));

    const got = await take(feed, 10);

    expect(got.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const subscribes = await Promise.all(server.connections.map((c) => c.subscribed));
    expect(subscribes).toEqual([
      { event_types: ['order.created'], since_seq: 0 },
      { event_types: ['order.created'], since_seq: 5 },
      { event_types: ['order.created'], since_seq: 8 },
    ]);
    expect(disconnects).toEqual([1006, 1012]);
    expect(feed.stats).toMatchObject({ received: 10, duplicates: 4, reconnects: 2, drops: 2 });
    // Leaving the loop closed the feed.
    expect(feed.closeReason).toEqual({ kind: 'closed', code: 1000, reason: 'iteration ended' });
  });

  it('starts after sinceSeq, and after advanceTo, and delivers live-only facts without a seq', async () => {
    server.onConnection = ({ socket, subscribed }) => {
      send(socket, 'hello', { tenant_id: 't-1', seq: 30 });
      void subscribed.then(() => {
        sendEvents(socket, [20, 21, 22, 23]);
        send(socket, 'event', event(null, 'location.delivered'));
        sendEvents(socket, [24]);
      });
    };
    const feed = feedOf({ sinceSeq: 10 });
    feed.advanceTo(21);
    feed.advanceTo(15); // never backwards

    const got = await take(feed, 4);

    expect(got.map((e) => [e.seq, e.event_type])).toEqual([
      [22, 'order.created'],
      [23, 'order.created'],
      [null, 'location.delivered'],
      [24, 'order.created'],
    ]);
    expect(await server.connections[0].subscribed).toEqual({ since_seq: 21 });
    expect(feed.stats.duplicates).toBe(2);
  });

  it('reconnects after a server shutdown (1001) and a slow-reader close (1013)', async () => {
    server.onConnection = ({ socket, subscribed }, index) => {
      send(socket, 'hello', { tenant_id: 't-1', seq: index });
      void subscribed.then(() => {
        sendEvents(socket, [index + 1]);
        if (index === 0) socket.close(1001, 'server shutting down');
        if (index === 1) socket.close(1013, 'reader too slow');
      });
    };
    const feed = feedOf();
    const opens: boolean[] = [];
    feed.on('open', ({ reconnect }) => opens.push(reconnect));

    const got = await take(feed, 3);

    expect(got.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(opens).toEqual([false, true, true]);
  });

  it('closes for good on 4401 with a typed reason: no reconnect, the iterator ends', async () => {
    server.onConnection = ({ socket, subscribed }) => {
      send(socket, 'hello', { tenant_id: 't-1', seq: 0 });
      void subscribed.then(() => {
        sendEvents(socket, [1, 2]);
        socket.close(4401, 'session revoked');
      });
    };
    const feed = feedOf();
    const disconnects: unknown[] = [];
    feed.on('disconnect', (d) => disconnects.push(d));
    const closes: unknown[] = [];
    feed.on('close', (reason) => closes.push(reason));

    const got: FeedEvent[] = [];
    for await (const item of feed) got.push(item);

    const reason = { kind: 'unauthorized', code: 4401, reason: 'session revoked' };
    expect(got.map((e) => e.seq)).toEqual([1, 2]);
    expect(await feed.closed).toEqual(reason);
    expect(closes).toEqual([reason]);
    // No retry was scheduled (a retry announces itself with `disconnect` first).
    expect(disconnects).toEqual([]);
    expect(server.connections).toHaveLength(1);
    expect(feed.running).toBe(false);
  });

  it('ends with `refused` when the upgrade fails and the API refuses the credential', async () => {
    server.refuseAll = 401;
    server.probeStatus = 401;
    const feed = feedOf();
    const disconnects: unknown[] = [];
    feed.on('disconnect', (d) => disconnects.push(d));

    feed.start();

    expect(await feed.closed).toEqual({
      kind: 'refused',
      status: 401,
      reason: 'the API answered 401',
    });
    expect(server.probes).toBe(1);
    expect(disconnects).toEqual([]);
    expect(server.connections).toHaveLength(0);
  });

  it('keeps trying while the upgrade fails for another reason (429 caps), then resumes', async () => {
    server.refusals = [429, 429];
    server.onConnection = ({ socket, subscribed }) => {
      send(socket, 'hello', { tenant_id: 't-1', seq: 3 });
      void subscribed.then(() => sendEvents(socket, [4]));
    };
    const feed = feedOf({ sinceSeq: 3 });
    const disconnects: { opened: boolean; attempt: number }[] = [];
    feed.on('disconnect', ({ opened, attempt }) => disconnects.push({ opened, attempt }));

    const got = await take(feed, 1);

    expect(got.map((e) => e.seq)).toEqual([4]);
    expect(disconnects).toEqual([
      { opened: false, attempt: 1 },
      { opened: false, attempt: 2 },
    ]);
    expect(server.probes).toBe(2);
  });

  it('surfaces a gap and resumes after it, not from the hole again', async () => {
    server.onConnection = ({ socket, subscribed }, index) => {
      void (async () => {
        send(socket, 'hello', { tenant_id: 't-1', seq: index === 0 ? 50 : 51 });
        await subscribed;
        if (index === 0) {
          send(socket, 'gap', { since_seq: 2, seq: 50, replay_max: 5 });
          send(socket, 'subscribed', { event_types: null, seq: 2 });
          socket.terminate();
        } else sendEvents(socket, [51]);
      })();
    };
    const feed = feedOf({ sinceSeq: 2 });
    const gaps: unknown[] = [];
    feed.on('gap', (gap) => gaps.push(gap));

    const got = await take(feed, 1);

    expect(got.map((e) => e.seq)).toEqual([51]);
    expect(gaps).toEqual([{ since_seq: 2, seq: 50, replay_max: 5 }]);
    expect((await server.connections[1].subscribed).since_seq).toBe(50);
    expect(feed.stats.gaps).toBe(1);
  });

  it('authenticates by subprotocol: an API key, or a bearer token with its tenant in the query', async () => {
    server.onConnection = ({ socket }) => send(socket, 'hello', { tenant_id: 't-1', seq: 0 });
    const keyFeed = feedOf().start();
    const bearerFeed = feedOf({ credential: { token: 'a.b.c', tenantId: 't-2' } }).start();
    await Promise.all([keyFeed, bearerFeed].map((f) => new Promise((r) => f.on('open', r))));

    const seen = server.connections.map(({ request }) => ({
      protocols: request.headers['sec-websocket-protocol'],
      url: request.url,
    }));
    expect(seen).toEqual(
      expect.arrayContaining([
        { protocols: 'tessera.v1, key.tsk_test', url: '/api/v1/ws' },
        { protocols: 'tessera.v1, bearer.a.b.c', url: '/api/v1/ws?tenant_id=t-2' },
      ]),
    );
  });

  it('any drops with any replay overlap: every event once, in seq order (property)', async () => {
    // Each run: the server sends `total` events over several sockets; each socket ends by a drop
    // kind, and the next one replays from an arbitrary point at or before the client's since_seq.
    const drops = fc.constantFrom<'terminate' | 1001 | 1006 | 1012 | 1013>(
      'terminate',
      1001,
      1006,
      1012,
      1013,
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 6 }), fc.nat(4), drops), {
          minLength: 1,
          maxLength: 4,
        }),
        async (plan) => {
          const total = plan.reduce((sum, [n]) => sum + n, 0) + 1;
          let sent = 0;
          server.connections.length = 0;
          server.onConnection = ({ socket, subscribed }, index) => {
            void (async () => {
              send(socket, 'hello', { tenant_id: 't-1', seq: sent });
              const { since_seq = 0 } = await subscribed;
              const step = plan[index];
              const overlap = step ? step[1] : 0;
              const from = Math.max(1, since_seq + 1 - overlap);
              const upTo = step ? Math.min(total, sent + step[0]) : total;
              sendEvents(
                socket,
                Array.from({ length: upTo - from + 1 }, (_, i) => from + i),
              );
              sent = Math.max(sent, upTo);
              if (!step) return;
              if (step[2] === 'terminate' || step[2] === 1006) socket.terminate();
              else socket.close(step[2], 'drop');
            })();
          };
          const feed = feedOf({ sinceSeq: 0, backoff: { initialMs: 1, maxMs: 4 } });
          const got = await take(feed, total);
          expect(got.map((e) => e.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
          expect(feed.stats.reconnects).toBe(plan.length);
        },
      ),
      { seed: 20_260_101, numRuns: 25 },
    );
  });
});

// Node's global WebSocket (undici), which the client uses when no constructor is given.
const WebSocket_ = (globalThis as { WebSocket?: FeedSocketConstructor }).WebSocket!;
