import request from 'supertest';
import WebSocket from 'ws';
import { createTestApp, type TestApp } from '../support/app';
import { AsyncApiMessages } from '../support/contract';
import { createTenant, type Identity, platformAdmin, tenantMember } from '../support/identities';
import { eventually } from '../support/services';

type Tenant = { id: string; api_key: string };

/** `eventually` over a synchronous probe (frames already received). */
const until = <T>(
  probe: () => T,
  accept: (value: T) => boolean,
  timeoutMs?: number,
  intervalMs?: number,
) => eventually(() => Promise.resolve(probe()), accept, timeoutMs, intervalMs);
type Frame = { type: string; data: Record<string, unknown> & { seq?: number } };
/** The message schemas of the served AsyncAPI document. */
let contract: AsyncApiMessages;

/** A socket that records every frame it gets. */
class Feed {
  readonly frames: Frame[] = [];
  hello!: Frame;
  constructor(readonly socket: WebSocket) {}

  static open(
    url: string,
    options: { headers?: Record<string, string>; protocols?: string[] } = {},
  ) {
    return new Promise<Feed>((resolve, reject) => {
      const socket = new WebSocket(url, options.protocols ?? [], { headers: options.headers });
      const feed = new Feed(socket);
      socket.on('message', (raw: Buffer) => {
        const frame = JSON.parse(raw.toString()) as Frame;
        if (frame.type === 'hello' && !feed.hello) {
          feed.hello = frame;
          resolve(feed);
        } else feed.frames.push(frame);
      });
      socket.once('unexpected-response', (_req, res) =>
        reject(new Error(`HTTP ${res.statusCode}`)),
      );
      socket.once('error', reject);
    });
  }

  events(): Array<{
    seq: number;
    event_type: string;
    tenant_id: string;
    metadata: Record<string, unknown>;
  }> {
    return this.frames.filter((f) => f.type === 'event').map((f) => f.data as never);
  }

  send(message: unknown): void {
    this.socket.send(JSON.stringify(message));
  }

  /** How the frames received so far differ from the AsyncAPI document (none: empty). */
  nonconforming(): string[] {
    return [this.hello, ...this.frames].flatMap((frame) =>
      contract.problems(frame).map((problem) => `${JSON.stringify(frame)}: ${problem}`),
    );
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.readyState === WebSocket.CLOSED) return resolve();
      this.socket.once('close', () => resolve());
      this.socket.close();
    });
  }
}

/** The feed across two app instances sharing Redis and PostgreSQL. */
describe('WebSocket feed over two instances', () => {
  let one: TestApp;
  let two: TestApp;
  let admin: Identity;
  let tenants: Tenant[];
  const ws = (t: TestApp) => t.url.replace('http', 'ws') + '/api/v1/ws';
  const post = (t: TestApp, key: string, body: object, path = '/api/v1/events') =>
    request(t.url).post(path).set('X-API-Key', key).send(body);

  beforeAll(async () => {
    process.env.EVENTS_REPLAY_MAX = '200';
    [one, two] = await Promise.all([createTestApp(), createTestApp()]);
    admin = await platformAdmin(one);
    tenants = [];
    for (let i = 0; i < 4; i++) tenants.push(await createTenant(one, admin));
    contract = new AsyncApiMessages((await request(one.url).get('/docs/asyncapi.json')).body);
  });
  afterAll(async () => {
    delete process.env.EVENTS_REPLAY_MAX;
    await Promise.all([one?.close(), two?.close()]);
  });

  it('an event posted to instance one reaches a socket on instance two, in seq order', async () => {
    const [a] = tenants;
    const feed = await Feed.open(ws(two), { headers: { 'x-api-key': a.api_key } });
    expect(feed.hello.data).toEqual({ tenant_id: a.id, seq: expect.any(Number) });
    const start = feed.hello.data.seq!;
    const posted = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        post(one, a.api_key, { event_type: 'tick', metadata: { i } }),
      ),
    );
    expect(posted.every((r) => r.status === 201)).toBe(true);
    await until(
      () => feed.events().filter((e) => e.event_type === 'tick').length,
      (n) => n >= 40,
      20_000,
      50,
    );
    // Every event of the tenant after hello, in order (a lifecycle fact may sit among the ticks).
    const seqs = feed.events().map((e) => e.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => start + i + 1));
    expect(feed.events().filter((e) => e.event_type === 'tick')).toHaveLength(40);
    expect(feed.nonconforming()).toEqual([]);
    await feed.close();
  });

  it("1,000 events over 4 tenants: each socket gets its tenant's events in order, 0 foreign deliveries", async () => {
    const feeds = await Promise.all(
      tenants.flatMap((tenant) =>
        [one, two].map((t) => Feed.open(ws(t), { headers: { 'x-api-key': tenant.api_key } })),
      ),
    );
    // 250 per tenant: batches of 25 sent by both instances at once.
    await Promise.all(
      tenants.flatMap((tenant, ti) =>
        Array.from({ length: 10 }, (_, b) =>
          post(
            b % 2 ? two : one,
            tenant.api_key,
            {
              events: Array.from({ length: 25 }, (_, i) => ({
                event_type: 'load',
                metadata: { b, i, ti },
              })),
            },
            '/api/v1/events/batch',
          ).expect(201),
        ),
      ),
    );
    await until(
      () => feeds.map((f) => f.events().filter((e) => e.event_type === 'load').length),
      (counts) => counts.every((n) => n >= 250),
      30_000,
      100,
    );
    let foreign = 0;
    let delivered = 0;
    feeds.forEach((feed, index) => {
      const tenant = tenants[Math.floor(index / 2)];
      const events = feed.events();
      delivered += events.filter((e) => e.event_type === 'load').length;
      foreign += events.filter((e) => e.tenant_id !== tenant.id).length;
      const seqs = events.map((e) => e.seq);
      const from = feed.hello.data.seq!;
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => from + i + 1));
    });
    console.log(
      `fan-out: 1000 events posted, ${delivered} deliveries to 8 sockets, ${foreign} foreign`,
    );
    expect(delivered).toBe(2000);
    expect(foreign).toBe(0);
    await Promise.all(feeds.map((f) => f.close()));
  });

  it('resume: a socket closed at seq N and reopened with since_seq=N gets N+1… exactly once, while ingestion continues', async () => {
    const tenant = tenants[1];
    let stop = false;
    let accepted = 0;
    let lastSeq = 0;
    const writer = (async () => {
      let i = 0;
      while (!stop) {
        const res = await post(i % 2 ? one : two, tenant.api_key, {
          event_type: 'resume',
          metadata: { i: i++ },
        });
        if (res.status === 201) {
          accepted++;
          lastSeq = Math.max(lastSeq, (res.body as { seq: number }).seq);
        }
      }
    })();
    const first = await Feed.open(ws(one), { headers: { 'x-api-key': tenant.api_key } });
    const startSeq = first.hello.data.seq!;
    await until(
      () => first.events().length,
      (n) => n >= 20,
      20_000,
      20,
    );
    await first.close();
    const got = first.events().map((e) => e.seq);
    const n = got[got.length - 1];
    // Ingestion goes on while the client is away.
    await until(
      () => accepted,
      (count) => count >= got.length + 30,
      20_000,
      20,
    );
    const second = await Feed.open(ws(two), { headers: { 'x-api-key': tenant.api_key } });
    second.send({ event: 'subscribe', data: { since_seq: n } });
    await until(
      () => second.events().length,
      (count) => count >= 60,
      20_000,
      20,
    );
    stop = true;
    await writer;
    await until(
      () => second.events().at(-1)?.seq,
      (last) => last === lastSeq,
      20_000,
      50,
    );
    const seqs = second.events().map((e) => e.seq);
    const expected = Array.from({ length: lastSeq - n }, (_, i) => n + i + 1);
    console.log(
      `resume: closed at seq ${n}, ${accepted} accepted during the test, reopened got ${seqs.length} (expected ${expected.length}), duplicates ${seqs.length - new Set(seqs).size}`,
    );
    expect(got).toEqual(Array.from({ length: got.length }, (_, i) => startSeq + i + 1));
    expect(seqs).toEqual(expected);
    await second.close();
  });

  it('subscribe narrows by event_types; beyond the replay bound it answers gap', async () => {
    const tenant = tenants[2];
    const feed = await Feed.open(ws(one), { headers: { 'x-api-key': tenant.api_key } });
    feed.send({ type: 'subscribe', data: { event_types: ['keep'] } });
    await until(() => feed.frames.some((f) => f.type === 'subscribed'), Boolean, 10_000, 20);
    await post(
      two,
      tenant.api_key,
      { events: [{ event_type: 'drop' }, { event_type: 'keep' }, { event_type: 'drop' }] },
      '/api/v1/events/batch',
    ).expect(201);
    await until(
      () => feed.events().length,
      (n) => n >= 1,
      10_000,
      20,
    );
    await post(two, tenant.api_key, { event_type: 'keep', metadata: { last: true } }).expect(201);
    await until(
      () => feed.events().length,
      (n) => n >= 2,
      10_000,
      20,
    );
    expect(feed.events().map((e) => e.event_type)).toEqual(['keep', 'keep']);
    // Since 0: ~250 events behind, past the bound (EVENTS_REPLAY_MAX=200 here): a gap, then live.
    const behind = await Feed.open(ws(two), { headers: { 'x-api-key': tenant.api_key } });
    behind.send({ event: 'subscribe', data: { since_seq: 0 } });
    await until(() => behind.frames.some((f) => f.type === 'subscribed'), Boolean, 10_000, 20);
    expect(behind.frames[0]).toEqual({
      type: 'gap',
      data: { since_seq: 0, seq: behind.hello.data.seq, replay_max: 200 },
    });
    expect(behind.events()).toHaveLength(0);
    // Within the bound, a replay keeps the filter: the last 4 seqs hold keep, drop, keep.
    const since = await Feed.open(ws(two), { headers: { 'x-api-key': tenant.api_key } });
    since.send({
      event: 'subscribe',
      data: { since_seq: since.hello.data.seq! - 4, event_types: ['keep'] },
    });
    await until(() => since.frames.some((f) => f.type === 'subscribed'), Boolean, 10_000, 20);
    expect(since.events().map((e) => [e.event_type, e.seq])).toEqual([
      ['keep', since.hello.data.seq! - 2],
      ['keep', since.hello.data.seq!],
    ]);
    for (const socket of [feed, behind, since]) expect(socket.nonconforming()).toEqual([]);
    await behind.close();
    await Promise.all([feed.close(), since.close()]);
  });

  it('browser credentials through the subprotocol are answered with tessera.v1', async () => {
    const [tenant] = tenants;
    const byKey = await Feed.open(ws(two), { protocols: ['tessera.v1', `key.${tenant.api_key}`] });
    expect(byKey.socket.protocol).toBe('tessera.v1');
    expect(byKey.hello.data.tenant_id).toBe(tenant.id);
    const member = await tenantMember(one, tenants[3].id, 'user');
    const byBearer = await Feed.open(ws(one), {
      protocols: ['tessera.v1', `bearer.${member.token}`],
    });
    expect(byBearer.socket.protocol).toBe('tessera.v1');
    expect(byBearer.hello.data.tenant_id).toBe(tenants[3].id);
    await expect(
      Feed.open(ws(one), { protocols: ['tessera.v1', 'key.tsk_wrong'] }),
    ).rejects.toThrow('HTTP 401');
    await Promise.all([byKey.close(), byBearer.close()]);
  });

  it('garbage frames get an error message and the socket keeps working', async () => {
    const [tenant] = tenants;
    const feed = await Feed.open(ws(one), { headers: { 'x-api-key': tenant.api_key } });
    feed.socket.send('not json {');
    feed.socket.send(Buffer.from([0xff, 0x00, 0x13]));
    feed.send([1, 2]);
    feed.send({ event: 'launch' });
    feed.send({ event: 'subscribe', data: { since_seq: -1 } });
    await until(
      () => feed.frames.filter((f) => f.type === 'error').length,
      (n) => n >= 5,
      10_000,
      20,
    );
    console.log(
      `garbage: 5 bad frames, ${feed.frames.filter((f) => f.type === 'error').length} error messages`,
    );
    expect(feed.nonconforming()).toEqual([]);
    await post(one, tenant.api_key, { event_type: 'after.garbage' }).expect(201);
    await until(
      () => feed.events().filter((e) => e.event_type === 'after.garbage').length,
      (n) => n >= 1,
      10_000,
      20,
    );
    await feed.close();
  });
});
