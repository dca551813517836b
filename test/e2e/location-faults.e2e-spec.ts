import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { createTestApp, type TestApp } from '../support/app';
import {
  HttpSink,
  isolateLocationTopics,
  locationTenant,
  type LocationTenant,
  platformAdmin,
  setDelivery,
  startSession,
} from '../support/http-sink';
import { type Identity, platformSql } from '../support/identities';
import { eventually, services } from '../support/services';
import { adminSql } from '../support/tenancy';

const ROOT = resolve(__dirname, '../..');

function freePort(): Promise<number> {
  return new Promise((done) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => done(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

interface StreamResult {
  accepted: string[];
  statuses: Map<number, number>;
  /** Statuses seen while `window` was open (e.g. while the broker was down). */
  during: Map<number, number>;
}

/** Posts updates with `concurrency` workers until `stop()` resolves; counts every answer. */
function streamUpdates(
  baseUrl: () => string,
  user: Identity,
  sessionId: string,
  options: { concurrency: number; pauseMs: number },
) {
  const result: StreamResult = { accepted: [], statuses: new Map(), during: new Map() };
  let running = true;
  let window = false;
  let n = 0;
  const worker = async () => {
    while (running) {
      const latitude = (n++ % 1800) / 20 - 45;
      const status = await request(baseUrl())
        .post('/api/v1/location/update')
        .set('Authorization', user.bearer)
        .timeout(10_000)
        .send({ session_id: sessionId, latitude, longitude: 7.5 })
        .then(
          (res) => {
            if (res.status === 202) result.accepted.push(res.body.event_id as string);
            return res.status;
          },
          () => 0, // connection refused / reset (the app is down)
        );
      result.statuses.set(status, (result.statuses.get(status) ?? 0) + 1);
      if (window) result.during.set(status, (result.during.get(status) ?? 0) + 1);
      if (status === 0) await sleep(100);
      else if (options.pauseMs) await sleep(options.pauseMs);
    }
  };
  const workers = Array.from({ length: options.concurrency }, worker);
  return {
    result,
    openWindow: () => (window = true),
    closeWindow: () => (window = false),
    stop: async () => {
      running = false;
      await Promise.all(workers);
      return result;
    },
  };
}

describe('Location fault tests: sink down, Kafka killed, app killed — no accepted update is lost', () => {
  let t: TestApp;
  let sink: HttpSink;
  let a: LocationTenant;

  beforeAll(async () => {
    sink = await new HttpSink().start();
    isolateLocationTopics('faults');
    Object.assign(process.env, {
      LOCATION_DELIVERY_ALLOWED_HOSTS: `127.0.0.1:${sink.port}`,
      LOCATION_PRODUCE_TIMEOUT_MS: '1500',
      LOCATION_DELIVERY_TIMEOUT_MS: '2000',
      LOCATION_RETRY_BASE_MS: '2000',
      LOCATION_RETRY_INTERVAL_MS: '500',
      LOCATION_BREAKER_RESET_MS: '2000',
    });
    t = await createTestApp();
    const admin = await platformAdmin(t);
    a = await locationTenant(t, admin, 3);
    await setDelivery(t, a.owner, sink.url);
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    await sink?.close();
  });

  /** Where each accepted update ended: locations, the sink, the ledger (by status). */
  async function account(label: string, accepted: string[]) {
    const persisted = await eventually(
      () =>
        adminSql<{ event_id: string }>(
          'select event_id from locations where event_id = any($1::uuid[])',
          [accepted],
          process.env.TENANT_DATABASE_NAME,
        ),
      (rows) => rows.length === accepted.length,
      90_000,
      500,
    );
    const ledger = async () =>
      platformSql<{ event_id: string; status: string }>(
        'select event_id, status from failed_location_updates where event_id = any($1::uuid[])',
        [accepted],
      );
    // Delivered, or visible in the ledger; then let the retries drain the ledger.
    const placed = await eventually(
      async () => {
        const rows = await ledger();
        const inLedger = new Set(rows.map((r) => r.event_id));
        return accepted.filter((id) => !sink.accepted.has(id) && !inLedger.has(id)).length;
      },
      (missing) => missing === 0,
      90_000,
      500,
    );
    const drained = await eventually(
      ledger,
      (rows) => rows.every((r) => r.status === 'resolved' || r.status === 'permanently_failed'),
      60_000,
      500,
    );
    const byStatus: Record<string, number> = {};
    for (const row of drained) byStatus[row.status] = (byStatus[row.status] ?? 0) + 1;
    const lostFromLocations = accepted.length - persisted.length;
    const delivered = accepted.filter((id) => sink.accepted.has(id)).length;
    console.log(
      `${label}: accepted=${accepted.length} persisted=${persisted.length} delivered=${delivered} ledger=${JSON.stringify(byStatus)} unplaced=${placed} lost=${lostFromLocations + placed} sink_duplicates=${sink.duplicates}`,
    );
    expect(lostFromLocations).toBe(0);
    expect(placed).toBe(0);
    return { delivered, byStatus };
  }

  it('the sink down for 30 s, then up: every 202 reaches locations and the sink or the ledger', async () => {
    const user = a.users[0];
    const session = await startSession(t, user);
    const duplicatesBefore = sink.duplicates;
    const s = streamUpdates(() => t.url, user, session, { concurrency: 2, pauseMs: 100 });
    await sleep(2_000);
    await sink.down();
    await sleep(30_000);
    await sink.up();
    await sleep(3_000);
    const result = await s.stop();
    expect(result.accepted.length).toBeGreaterThan(0);
    expect([...result.statuses.keys()]).toEqual([202]);
    const { byStatus } = await account('sink down 30 s', result.accepted);
    expect(byStatus.permanently_failed ?? 0).toBe(0);
    console.log(
      `sink down 30 s: duplicates at the sink in this test=${sink.duplicates - duplicatesBefore}`,
    );
    await request(t.url)
      .post(`/api/v1/location/session/${session}/stop`)
      .set('Authorization', user.bearer)
      .expect(200);
  }, 240_000);

  it('the Kafka broker killed (kill -9) for 10 s mid-stream: only 503s while down, no 202 that is then missing', async () => {
    const user = a.users[1];
    const session = await startSession(t, user);
    const s = streamUpdates(() => t.url, user, session, { concurrency: 4, pauseMs: 20 });
    try {
      await sleep(3_000);
      const pid = Number(readFileSync(resolve(ROOT, '.cache/run/kafka.pid'), 'utf8').trim());
      s.openWindow();
      process.kill(pid, 'SIGKILL');
      await sleep(10_000);
      s.closeWindow();
      await services('up', 'kafka');
      // Streams on until the broker acknowledges again, then a little longer.
      const okBefore = s.result.accepted.length;
      await eventually(
        () => Promise.resolve(s.result.accepted.length),
        (n) => n > okBefore + 20,
        90_000,
        500,
      );
    } finally {
      await services('up', 'kafka');
    }
    const result = await s.stop();
    const during = Object.fromEntries(result.during);
    console.log(
      `kafka kill -9: answers while down=${JSON.stringify(during)} all=${JSON.stringify(Object.fromEntries(result.statuses))}`,
    );
    // While down: 503 (Retry-After), or a 202 only for a record the broker had acknowledged.
    expect(Object.keys(during).filter((code) => code !== '503' && code !== '202')).toEqual([]);
    expect(result.during.get(503) ?? 0).toBeGreaterThan(0);
    await account('kafka kill -9 10 s', result.accepted);
    await request(t.url)
      .post(`/api/v1/location/session/${session}/stop`)
      .set('Authorization', user.bearer)
      .expect(200);
  }, 300_000);

  it('the app killed with kill -9 mid-stream and restarted: every 202 reaches locations and the sink or the ledger', async () => {
    const user = a.users[2];
    const session = await startSession(t, user);
    const startChild = async (): Promise<{ child: ChildProcess; url: string }> => {
      const port = await freePort();
      const child = spawn(process.execPath, ['-r', '@swc-node/register', 'src/main.ts'], {
        cwd: ROOT,
        env: { ...process.env, PORT: String(port), LOG_LEVEL: 'warn', NODE_ENV: 'test' },
        stdio: ['ignore', 'ignore', 'ignore'],
      });
      const url = `http://127.0.0.1:${port}`;
      const up = await eventually(
        () =>
          request(url)
            .get('/health/live')
            .then(
              (r) => r.status,
              () => 0,
            ),
        (status) => status === 200,
        90_000,
        300,
      );
      expect(up).toBe(200);
      return { child, url };
    };
    let current = await startChild();
    let second: { child: ChildProcess; url: string } | null = null;
    try {
      const s = streamUpdates(() => current.url, user, session, { concurrency: 4, pauseMs: 10 });
      await sleep(3_000);
      current.child.kill('SIGKILL');
      const acceptedAtKill = s.result.accepted.length;
      second = await startChild();
      current = second;
      await eventually(
        () => Promise.resolve(s.result.accepted.length),
        (n) => n > acceptedAtKill + 50,
        60_000,
        300,
      );
      const result = await s.stop();
      console.log(
        `app kill -9: accepted before kill=${acceptedAtKill} total accepted=${result.accepted.length} answers=${JSON.stringify(Object.fromEntries(result.statuses))}`,
      );
      await account('app kill -9 and restart', result.accepted);
    } finally {
      current.child.kill('SIGKILL');
      second?.child.kill('SIGKILL');
    }
  }, 300_000);
});
