import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import WebSocket from 'ws';
import type { TestApp } from '../support/app';
import { type AppProcess, appReady, freePort, spawnApp, stopApp } from '../support/app-process';
import { DnsStub } from '../support/dns-stub';
import {
  HttpSink,
  isolateLocationTopics,
  locationTenant,
  type LocationTenant,
  setDelivery,
  startSession,
} from '../support/http-sink';
import { type Identity, platformAdmin, uniqueEmail } from '../support/identities';
import { accountFor, streamUpdates } from '../support/location-faults';
import { eventually } from '../support/services';
import { adminSql } from '../support/tenancy';

/**
 * Two real instances behind HAProxy running deploy/haproxy/haproxy.cfg itself: its addresses
 * and check timings come from the environment (the file's defaults are the compose values).
 * The instances share one port on two loopback addresses, and a DNS stub answers both for one
 * name, as Docker's DNS answers a scaled service's replicas to the file's `server-template`.
 */

const CONFIG = resolve(__dirname, '../../deploy/haproxy/haproxy.cfg');
const BALANCER = '127.0.0.2';
const INSTANCES = ['127.0.0.5', '127.0.0.6'];
// Clients of their own: per-IP limits must see these, not the balancer.
const CLIENT_A = '127.0.0.3';
const CLIENT_B = '127.0.0.4';
const LOGIN_LIMIT_IP = 10;
const CHECK_INTER_MS = 300;
// Well above what HAProxy needs to see the 503 (2 failed checks, `fall 2`).
const DRAIN_DELAY_MS = 2_500;

type Stat = Record<string, string>;

/** HAProxy as a child process; its log kept for a failure message. */
class Balancer {
  private tail = '';
  private constructor(
    readonly process: ChildProcess,
    readonly url: string,
    private readonly statsUrl: string,
  ) {
    const keep = (chunk: Buffer) => (this.tail = (this.tail + chunk.toString()).slice(-16_000));
    process.stdout?.on('data', keep);
    process.stderr?.on('data', keep);
  }

  static async start(env: Record<string, string>): Promise<Balancer> {
    const [port, statsPort] = [await freePort(), await freePort()];
    // `-n`: the file's maxconn (20,000) needs more descriptors than a test machine may allow;
    // a capacity setting, not one this test is about.
    const child = spawn('haproxy', ['-f', CONFIG, '-db', '-n', '2000'], {
      env: {
        ...process.env,
        // Debian installs it in /usr/sbin, which a user's PATH may lack.
        PATH: `${process.env.PATH}:/usr/sbin`,
        TESSERA_LB_BIND: `${BALANCER}:${port}`,
        TESSERA_LB_STATS_BIND: `${BALANCER}:${statsPort}`,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new Balancer(child, `http://${BALANCER}:${port}`, `http://${BALANCER}:${statsPort}`);
  }

  output(): string {
    return this.tail;
  }

  /** The stats page's rows of the backend `tessera`, by server name (BACKEND: the backend). */
  async stats(): Promise<Map<string, Stat>> {
    const csv = (await request(this.statsUrl).get('/;csv')).text;
    const [head, ...lines] = csv.trim().split('\n');
    const names = head.replace(/^# /, '').split(',');
    const rows = new Map<string, Stat>();
    for (const line of lines) {
      const values = line.split(',');
      const row = Object.fromEntries(names.map((name, i) => [name, values[i] ?? '']));
      if (row.pxname === 'tessera') rows.set(row.svname, row);
    }
    return rows;
  }

  /** Waits (bounded) until `servers` of the backend are UP; returns their names. */
  async serversUp(servers: number): Promise<string[]> {
    const up = await eventually(
      async () =>
        [...(await this.stats().catch(() => new Map<string, Stat>())).values()]
          .filter((row) => row.svname !== 'BACKEND' && row.status === 'UP')
          .map((row) => row.svname),
      (names) => names.length === servers,
      30_000,
      100,
    );
    if (up.length !== servers)
      throw new Error(`HAProxy: ${up.length} of ${servers} servers UP:\n${this.output()}`);
    return up;
  }

  async stop(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    const exited = new Promise((done) => this.process.once('exit', done));
    this.process.kill('SIGTERM');
    await exited;
  }
}

/** A POST from the local address `from` (http.request's localAddress): the status it got. */
function postFrom(
  from: string,
  url: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<number> {
  return new Promise((done, fail) => {
    const data = JSON.stringify(body);
    const req = httpRequest(
      url,
      {
        method: 'POST',
        localAddress: from,
        agent: false,
        headers: { 'content-type': 'application/json', ...headers },
      },
      (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode ?? 0));
      },
    );
    req.on('error', fail);
    req.end(data);
  });
}

/** An instance's own count of answers for a route and status (its /metrics, not the balancer's). */
async function served(app: AppProcess, method: string, route: string, status: number) {
  const text = (await request(app.url).get('/metrics')).text;
  const line = text
    .split('\n')
    .find(
      (l) =>
        l.startsWith('http_request_duration_seconds_count{') &&
        l.includes(`method="${method}"`) &&
        l.includes(`route="${route}"`) &&
        l.includes(`status_code="${status}"`),
    );
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

async function openSockets(app: AppProcess): Promise<number> {
  const text = (await request(app.url).get('/metrics')).text;
  const line = text.split('\n').find((l) => l.startsWith('tessera_ws_sockets'));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

const count = (statuses: Map<number, number>) =>
  JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)));

describe('two instances behind HAProxy (deploy/haproxy/haproxy.cfg)', () => {
  let dns: DnsStub;
  let sink: HttpSink;
  let balancer: Balancer | undefined;
  let apps: AppProcess[] = [];
  let admin: Identity;
  let tenant: LocationTenant;
  // The identity helpers only use the app's URL: everything goes through the balancer.
  const viaBalancer = () => ({ url: balancer!.url }) as TestApp;

  beforeAll(async () => {
    sink = await new HttpSink().start();
    isolateLocationTopics('lb');
    const port = await freePort();
    const env = {
      LOCATION_DELIVERY_ALLOWED_HOSTS: `127.0.0.1:${sink.port}`,
      // What compose sets: believe one hop of X-Forwarded-For (the balancer's).
      TRUST_PROXY: '1',
      AUTH_LOGIN_LIMIT_IP: String(LOGIN_LIMIT_IP),
      // A key space of this file's own: the per-IP counters start at zero in every run.
      REDIS_KEY_PREFIX: `${process.env.REDIS_KEY_PREFIX ?? 'tessera-test:'}lb-${randomUUID().slice(0, 8)}:`,
      SHUTDOWN_DRAIN_DELAY_MS: String(DRAIN_DELAY_MS),
    };
    apps = await Promise.all(INSTANCES.map((host) => spawnApp({ ...env, HOST: host }, port)));
    dns = await new DnsStub('tessera-app', INSTANCES).start();
    balancer = await Balancer.start({
      TESSERA_LB_APP: `tessera-app:${port}`,
      TESSERA_LB_DNS: `127.0.0.1:${dns.port}`,
      TESSERA_LB_CHECK_INTER: `${CHECK_INTER_MS}ms`,
      TESSERA_LB_SLOWSTART: '0s',
    });
    await Promise.all(apps.map((app) => appReady(app)));
    await balancer.serversUp(2);
    admin = await platformAdmin(viaBalancer());
    tenant = await locationTenant(viaBalancer(), admin, 1);
    await setDelivery(viaBalancer(), tenant.owner, sink.url);
  }, 180_000);

  afterAll(async () => {
    if (tenant && balancer)
      await request(balancer.url)
        .delete(`/api/v1/tenants/${tenant.id}`)
        .set('Authorization', admin.bearer)
        .catch(() => undefined);
    await balancer?.stop();
    await Promise.all(apps.map((app) => stopApp(app)));
    await dns?.close();
    await sink?.close();
  }, 60_000);

  it('round-robins REST requests: each instance serves some (its own request counter)', async () => {
    const route = '/api/v1/events';
    const before = await Promise.all(apps.map((app) => served(app, 'GET', route, 200)));
    for (let i = 0; i < 10; i++) {
      const res = await request(balancer!.url).get(route).set('Authorization', tenant.owner.bearer);
      expect(res.status).toBe(200);
    }
    const after = await Promise.all(apps.map((app) => served(app, 'GET', route, 200)));
    const each = after.map((n, i) => n - before[i]);
    console.log(`load balancer, round robin: 10 GET ${route} served ${each.join(' + ')}`);
    expect(each[0] + each[1]).toBe(10);
    expect(each[0]).toBeGreaterThan(0);
    expect(each[1]).toBeGreaterThan(0);
  });

  it('serves the WebSocket feed through the balancer, on both instances', async () => {
    const ws = balancer!.url.replace('http', 'ws') + '/api/v1/ws';
    const open = () =>
      new Promise<{ socket: WebSocket; frames: Record<string, unknown>[] }>((done, fail) => {
        const socket = new WebSocket(ws, { headers: { authorization: tenant.owner.bearer } });
        const frames: Record<string, unknown>[] = [];
        socket.on('message', (raw: Buffer) => {
          frames.push(JSON.parse(raw.toString()) as Record<string, unknown>);
          if (frames.length === 1) done({ socket, frames });
        });
        socket.once('unexpected-response', (_req, res) =>
          fail(new Error(`HTTP ${res.statusCode}`)),
        );
        socket.once('error', fail);
      });
    // Round robin puts two upgrades on the two instances: each holds one socket.
    const sockets = [await open(), await open()];
    try {
      expect(sockets.map((s) => s.frames[0].type)).toEqual(['hello', 'hello']);
      expect(await Promise.all(apps.map(openSockets))).toEqual([1, 1]);
      const eventId = `lb-ws-${randomUUID()}`;
      const posted = await request(balancer!.url)
        .post('/api/v1/events')
        .set('Authorization', tenant.owner.bearer)
        .send({ event_type: 'lb.ws', event_id: eventId, metadata: { via: 'balancer' } });
      expect(posted.status).toBe(201);
      const isIt = (frame: Record<string, unknown>) =>
        frame.type === 'event' && (frame.data as { id?: string }).id === posted.body.id;
      const arrived = await eventually(
        () => Promise.resolve(sockets.map((s) => s.frames.some(isIt))),
        (seen) => seen.every(Boolean),
        10_000,
        50,
      );
      expect(arrived).toEqual([true, true]);
    } finally {
      for (const { socket } of sockets) socket.close();
    }
    await eventually(
      () => Promise.all(apps.map(openSockets)),
      (open) => open.every((n) => n === 0),
      10_000,
      100,
    );
  });

  it('limits logins per client address behind the balancer; a forged X-Forwarded-For picks no key', async () => {
    const login = (from: string, headers: Record<string, string> = {}) =>
      postFrom(
        from,
        `${balancer!.url}/api/v1/auth/login`,
        { email: uniqueEmail('lb-spray'), password: 'not-the-password' },
        headers,
      );
    const statuses: number[] = [];
    for (let i = 0; i < LOGIN_LIMIT_IP; i++) statuses.push(await login(CLIENT_A));
    expect(statuses).toEqual(Array<number>(LOGIN_LIMIT_IP).fill(401));
    const limited = await login(CLIENT_A);
    // Claiming another address does not get A out of its limit …
    const forgedByA = await login(CLIENT_A, { 'X-Forwarded-For': '203.0.113.7' });
    // … B still passes (the balancer's address is not the key) …
    const other = await login(CLIENT_B);
    // … and B claiming A's address is not counted against A.
    const forgedByB = await login(CLIENT_B, { 'X-Forwarded-For': CLIENT_A });
    console.log(
      `load balancer, per-IP login limit ${LOGIN_LIMIT_IP}: client A ${LOGIN_LIMIT_IP}x401 then ${limited}, A forging XFF ${forgedByA}; client B ${other}, B forging A's address ${forgedByB}`,
    );
    expect({ limited, forgedByA, other, forgedByB }).toEqual({
      limited: 429,
      forgedByA: 429,
      other: 401,
      forgedByB: 401,
    });
  });

  it('SIGTERM of one instance under load: HAProxy takes it out on its 503; no failed request, nothing lost', async () => {
    const user = tenant.users[0];
    const session = await startSession(viaBalancer(), user);
    const locations = streamUpdates(() => balancer!.url, user, session, {
      concurrency: 3,
      pauseMs: 20,
    });
    // Events at a steady rate; each carries its event_id (a repeat would answer 200, not store twice).
    const events = { sent: 0, statuses: new Map<number, number>(), stored: [] as string[] };
    let posting = true;
    const poster = (async () => {
      while (posting) {
        const eventId = `lb-${randomUUID()}`;
        events.sent++;
        const status = await request(balancer!.url)
          .post('/api/v1/events')
          .set('Authorization', tenant.owner.bearer)
          .timeout(10_000)
          .send({ event_type: 'lb.load', event_id: eventId, metadata: { n: events.sent } })
          .then(
            (res) => res.status,
            () => 0,
          );
        events.statuses.set(status, (events.statuses.get(status) ?? 0) + 1);
        if (status === 201) events.stored.push(eventId);
        await sleep(25);
      }
    })();
    const [victim, survivor] = apps;
    let checks: string[][] = [];
    let exitCode: number | null = null;
    try {
      // Both instances serve the stream before the SIGTERM.
      const warm = await eventually(
        () => Promise.all(apps.map((app) => served(app, 'POST', '/api/v1/location/update', 202))),
        (n) => n.every((x) => x >= 10),
        20_000,
        100,
      );
      expect(warm.every((x) => x >= 10)).toBe(true);

      victim.process.kill('SIGTERM');
      const servers = async () =>
        [...(await balancer!.stats()).values()].filter(
          (row) => row.svname !== 'BACKEND' && !row.status.startsWith('MAINT'),
        );
      const afterTerm = await eventually(
        servers,
        (rows) => rows.some((row) => row.status.startsWith('DOWN')),
        10_000,
        50,
      );
      // A check in progress shows as "* <last status>" with no code yet.
      checks = afterTerm
        .map((row) => {
          const running = row.check_status.startsWith('* ');
          const status = row.check_status.replace(/^\* /, '');
          return [row.status, status, running ? 'checking' : row.check_code];
        })
        .sort();
      exitCode = await victim.exited;
      // The survivor carries the load on its own for a while.
      const atExit = await served(survivor, 'POST', '/api/v1/location/update', 202);
      await eventually(
        () => served(survivor, 'POST', '/api/v1/location/update', 202),
        (n) => n >= atExit + 30,
        20_000,
        100,
      );
    } finally {
      posting = false;
      await poster;
      await locations.stop();
    }
    const result = locations.result;
    const backend = (await balancer!.stats()).get('BACKEND')!;

    const storedRows = await adminSql<{ client_event_id: string }>(
      'select client_event_id from events where client_event_id = any($1::text[])',
      [events.stored],
      process.env.TENANT_DATABASE_NAME,
    );
    const sentLocations = [...result.statuses.values()].reduce((a, b) => a + b, 0);
    const { delivered } = await accountFor(sink, 'load balancer, SIGTERM', result.accepted);
    const eventsLost = events.stored.length - storedRows.length;
    console.log(
      `load balancer, SIGTERM of one of two instances under load: sent location=${sentLocations} events=${events.sent}; answered location=${count(result.statuses)} events=${count(events.statuses)}; lost location=${result.accepted.length - delivered} events=${eventsLost}; HAProxy retries=${backend.wretr} redispatches=${backend.wredis}; checks when taken out ${JSON.stringify(checks)}`,
    );
    // Taken out by its readiness answer (an HTTP 503), while it still listened; the other stays.
    expect(checks).toEqual([
      ['DOWN', 'L7STS', '503'],
      ['UP', 'L7OK', expect.stringMatching(/^(200|checking)$/)],
    ]);
    expect(exitCode).toBe(0);
    expect([...result.statuses.keys()]).toEqual([202]);
    expect([...events.statuses.keys()]).toEqual([201]);
    expect(delivered).toBe(result.accepted.length);
    expect(eventsLost).toBe(0);
    // No request needed the safety net (a refused connection retried, then sent elsewhere):
    // the instance was out of the rotation before its listener closed.
    expect({ retries: backend.wretr, redispatches: backend.wredis }).toEqual({
      retries: '0',
      redispatches: '0',
    });
  }, 150_000);
});
