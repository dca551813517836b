import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { createTestApp, type TestApp } from './app';
import {
  HttpSink,
  isolateLocationTopics,
  locationTenant,
  type LocationTenant,
  platformAdmin,
  setDelivery,
} from './http-sink';
import { type Identity, platformSql } from './identities';
import { eventually } from './services';
import { adminSql } from './tenancy';

/** Location fault tests' shared parts: a stream of updates that counts every answer, and the account of where each accepted update ended. */

export function freePort(): Promise<number> {
  return new Promise((done) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => done(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface StreamResult {
  accepted: string[];
  /** For each accepted update (same order): when its request was sent and answered (epoch ms). */
  acceptedAt: Array<{ sent: number; answered: number }>;
  statuses: Map<number, number>;
  /** Statuses seen while `window` was open (e.g. while the broker was down). */
  during: Map<number, number>;
}

/** Streams not stopped yet: a failed test's stream is stopped when its fixture closes. */
const streams = new Set<() => Promise<StreamResult>>();

/** Posts updates with `concurrency` workers until `stop()` resolves; counts every answer. */
export function streamUpdates(
  baseUrl: () => string,
  user: Identity,
  sessionId: string,
  options: { concurrency: number; pauseMs: number },
) {
  const result: StreamResult = {
    accepted: [],
    acceptedAt: [],
    statuses: new Map(),
    during: new Map(),
  };
  let running = true;
  let window = false;
  let n = 0;
  const worker = async () => {
    while (running) {
      const latitude = (n++ % 1800) / 20 - 45;
      const sent = Date.now();
      const status = await request(baseUrl())
        .post('/api/v1/location/update')
        .set('Authorization', user.bearer)
        .timeout(10_000)
        .send({ session_id: sessionId, latitude, longitude: 7.5 })
        .then(
          (res) => {
            if (res.status === 202) {
              result.accepted.push(res.body.event_id as string);
              result.acceptedAt.push({ sent, answered: Date.now() });
            }
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
  const stop = async () => {
    running = false;
    streams.delete(stop);
    await Promise.all(workers);
    return result;
  };
  streams.add(stop);
  return {
    result,
    openWindow: () => (window = true),
    closeWindow: () => (window = false),
    stop,
  };
}

/** Where each accepted update ended: locations, the sink, the ledger (by status); asserts none lost. */
export async function accountFor(sink: HttpSink, label: string, accepted: string[]) {
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

export interface FaultsFixture {
  t: TestApp;
  sink: HttpSink;
  tenant: LocationTenant;
  /** {@link accountFor} with this fixture's sink. */
  account(label: string, accepted: string[]): ReturnType<typeof accountFor>;
  close(): Promise<void>;
}

/**
 * A fault test's app: topics of its own, short produce, delivery and retry timings, and a tenant
 * with `users` users whose updates go to a live sink.
 */
export async function faultsFixture(label: string, users: number): Promise<FaultsFixture> {
  const sink = await new HttpSink().start();
  isolateLocationTopics(label);
  Object.assign(process.env, {
    LOCATION_DELIVERY_ALLOWED_HOSTS: `127.0.0.1:${sink.port}`,
    LOCATION_PRODUCE_TIMEOUT_MS: '1500',
    LOCATION_DELIVERY_TIMEOUT_MS: '2000',
    LOCATION_RETRY_BASE_MS: '2000',
    LOCATION_RETRY_INTERVAL_MS: '500',
    LOCATION_BREAKER_RESET_MS: '2000',
  });
  const t = await createTestApp();
  const admin = await platformAdmin(t);
  const tenant = await locationTenant(t, admin, users);
  await setDelivery(t, tenant.owner, sink.url);
  return {
    t,
    sink,
    tenant,
    account: (label, accepted) => accountFor(sink, label, accepted),
    close: async () => {
      await Promise.all([...streams].map((stop) => stop()));
      await t.close();
      await sink.close();
    },
  };
}
