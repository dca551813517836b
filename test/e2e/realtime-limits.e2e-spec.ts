import { EventEmitter2 } from '@nestjs/event-emitter';
import request from 'supertest';
import WebSocket from 'ws';
import { RealtimeGateway, realtimeMetrics } from '../../src/modules/realtime';
import { createTestApp, type TestApp } from '../support/app';
import { createTenant, type Identity, platformAdmin } from '../support/identities';
import { eventually } from '../support/services';

type Tenant = { id: string; api_key: string };
type Closed = { code: number; reason: string };

const ENV = {
  EVENTS_WS_MAX_SOCKETS_PER_TENANT: '3',
  EVENTS_WS_MAX_SOCKETS_PER_KEY: '2',
  EVENTS_WS_MAX_BUFFERED_BYTES: String(256 * 1024),
};

/** Connection caps, frame size, slow readers, dead peers and the feed's metrics. */
describe('WebSocket limits', () => {
  let t: TestApp;
  let admin: Identity;
  let tenant: Tenant;
  const url = () => t.url.replace('http', 'ws') + '/api/v1/ws';

  const open = (key: string, options: WebSocket.ClientOptions = {}) =>
    new Promise<{ socket: WebSocket; closed: Promise<Closed>; frames: string[] }>(
      (resolve, reject) => {
        const socket = new WebSocket(url(), { headers: { 'x-api-key': key }, ...options });
        const frames: string[] = [];
        const closed = new Promise<Closed>((done) =>
          socket.once('close', (code, reason) => done({ code, reason: reason.toString() })),
        );
        socket.on('message', (raw: Buffer) => {
          const text = raw.toString();
          if (frames.length === 0 && text.includes('"hello"')) resolve({ socket, closed, frames });
          frames.push(text);
        });
        socket.once('unexpected-response', (_req, res) =>
          reject(new Error(`HTTP ${res.statusCode}`)),
        );
        socket.once('error', reject);
      },
    );

  beforeAll(async () => {
    Object.assign(process.env, ENV);
    t = await createTestApp();
    admin = await platformAdmin(t);
    tenant = await createTenant(t, admin);
  });
  afterAll(async () => {
    for (const name of Object.keys(ENV)) delete process.env[name];
    await t.close();
  });

  it('caps connections per key and per tenant with 429 at the upgrade; a closed socket frees its slot', async () => {
    const second = (
      await request(t.url)
        .post(`/api/v1/tenants/${tenant.id}/api-keys`)
        .set('Authorization', admin.bearer)
        .expect(201)
    ).body as { api_key: string };
    const a1 = await open(tenant.api_key);
    const a2 = await open(tenant.api_key);
    await expect(open(tenant.api_key)).rejects.toThrow('HTTP 429');
    const b1 = await open(second.api_key);
    await expect(open(second.api_key)).rejects.toThrow('HTTP 429'); // the tenant's 3
    a1.socket.close();
    await a1.closed;
    const b2 = await eventually(
      () => open(second.api_key).catch(() => null),
      (socket) => socket !== null,
      5_000,
      50,
    );
    expect(b2).not.toBeNull();
    for (const s of [a2, b1, b2!]) s.socket.close();
    await Promise.all([a2, b1, b2!].map((s) => s.closed));
  });

  it('a 1 MiB frame closes the socket with 1009', async () => {
    const { socket, closed } = await open(tenant.api_key);
    socket.send(JSON.stringify({ event: 'subscribe', data: { pad: 'x'.repeat(1024 * 1024) } }));
    expect((await closed).code).toBe(1009);
  });

  it('a reader that stops reading is closed with 1013 while another socket keeps receiving promptly', async () => {
    const slow = await open(tenant.api_key);
    const fast = await open(tenant.api_key);
    // The other socket wants only the probes: the server filters the big frames out for it.
    fast.socket.send(JSON.stringify({ event: 'subscribe', data: { event_types: ['probe'] } }));
    await eventually(
      () => Promise.resolve(fast.frames.some((f) => f.includes('"subscribed"'))),
      Boolean,
      5_000,
      20,
    );
    const latencies: number[] = [];
    const sentAt = new Map<number, number>();
    fast.socket.on('message', (raw: Buffer) => {
      const frame = JSON.parse(raw.toString()) as {
        type: string;
        data: { metadata?: { n?: number } };
      };
      const at = frame.data.metadata?.n;
      if (frame.type === 'event' && at !== undefined && sentAt.has(at))
        latencies.push(Date.now() - sentAt.get(at)!);
    });
    let n = 0;
    const probe = async () => {
      sentAt.set(n, Date.now());
      await request(t.url)
        .post('/api/v1/events')
        .set('X-API-Key', tenant.api_key)
        .send({ event_type: 'probe', metadata: { n: n++ } })
        .expect(201);
    };
    // Baseline: the same probes before anyone is slow.
    for (let i = 0; i < 5; i++) await probe();
    await eventually(
      () => Promise.resolve(latencies.length),
      (count) => count >= 5,
      10_000,
      20,
    );
    const baseline = latencies.splice(0).sort((x, y) => x - y);

    // The slow client stops reading from its TCP socket.
    const raw = (slow.socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    raw.pause();
    const pad = 'p'.repeat(60 * 1024);
    const emitter = t.app.get(EventEmitter2);
    const slowClosed = async () =>
      // Every tenant's series of the reason.
      (await realtimeMetrics.wsClosed.get()).values
        .filter((v) => v.labels.reason === 'slow_reader')
        .reduce((sum, v) => sum + v.value, 0);
    const before = await slowClosed();
    const first = n;
    // Big live-only facts (1.2 MB a round) until the server cuts the slow socket, a probe each round.
    for (let round = 0; round < 100 && (await slowClosed()) === before; round++) {
      for (let i = 0; i < 20; i++)
        emitter.emit('location.update.delivered', {
          tenantId: tenant.id,
          sessionId: 's',
          eventId: `e${i}`,
          latencyMs: 1,
          pad,
        });
      await probe();
    }
    const rounds = n - first;
    raw.resume();
    const closed = await slow.closed;
    await eventually(
      () => Promise.resolve(latencies.length),
      (count) => count >= rounds,
      10_000,
      20,
    );
    const sorted = [...latencies].sort((x, y) => x - y);
    const p50 = (values: number[]) => values[Math.floor(values.length / 2)];
    console.log(
      `slow reader: closed with ${closed.code} after ${rounds} rounds of 1.2 MB; the other socket got ${latencies.length}/${rounds} probes, ` +
        `POST-to-receipt p50 ${p50(sorted)} ms, max ${sorted.at(-1)} ms (baseline before: p50 ${p50(baseline)} ms, max ${baseline.at(-1)} ms)`,
    );
    expect(closed.code).toBe(1013);
    expect(latencies).toHaveLength(rounds);
    expect(fast.socket.readyState).toBe(WebSocket.OPEN);
    fast.socket.close();
  });

  it('a peer that answers no ping is dropped at the next ping round', async () => {
    const gateway = t.app.get(RealtimeGateway);
    const socket = new WebSocket(url(), {
      headers: { 'x-api-key': tenant.api_key },
      autoPong: false,
    });
    const closed = new Promise<number>((resolve) => socket.once('close', resolve));
    await new Promise((resolve) => socket.once('message', resolve)); // hello
    const pinged = new Promise((resolve) => socket.once('ping', resolve));
    gateway.sweep(); // what the 30 s timer runs: ping
    await pinged;
    gateway.sweep(); // no pong came back: dropped
    expect(await closed).toBe(1006);
  });

  it('metrics: ingested, rejected, sockets, pushes, push latency, closes by reason', async () => {
    const text = (await request(t.url).get('/metrics')).text;
    for (const name of [
      'tessera_events_ingested_total',
      'tessera_events_rejected_total',
      'tessera_ws_sockets',
      'tessera_ws_pushes_total',
      'tessera_ws_push_latency_seconds_bucket',
      'tessera_ws_closed_total{reason="slow_reader",tenant_id=',
      'tessera_ws_closed_total{reason="dead_peer",tenant_id=',
      'tessera_ws_refused_total{status="429"}',
    ])
      expect(text).toContain(name);
  });
});
