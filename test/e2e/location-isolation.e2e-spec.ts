import { createServer, type Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import request from 'supertest';
import { LocationPersisterConsumer } from '../../src/modules/location/updates/location-persister.consumer';
import { createTestApp, type TestApp } from '../support/app';
import { isolateLocationTopics, setDelivery, startSession } from '../support/http-sink';
import {
  createTenant,
  type Identity,
  platformAdmin,
  platformSql,
  tenantMember,
} from '../support/identities';
import { eventually } from '../support/services';
import { TcpProxy } from '../support/tcp-proxy';
import {
  adminSql,
  deleteSecret,
  putSecret,
  scratchDatabase,
  secretJson,
  secretsClient,
} from '../support/tenancy';

const OUTAGE_MS = 60_000;

interface Tenant {
  id: string;
  db: string;
  owner: Identity;
  users: Identity[];
}

/** Posts one update at a time per session until stopped; keeps each 202's event id. */
function stream(url: string, sessions: Array<{ user: Identity; id: string }>, pauseMs: number) {
  const accepted: string[] = [];
  const statuses = new Map<number, number>();
  let running = true;
  const worker = async ({ user, id }: { user: Identity; id: string }) => {
    let n = 0;
    while (running) {
      const status = await request(url)
        .post('/api/v1/location/update')
        .set('Authorization', user.bearer)
        .timeout(10_000)
        .send({ session_id: id, latitude: (n++ % 1800) / 20 - 45, longitude: 7.5 })
        .then(
          (res) => {
            if (res.status === 202) accepted.push(res.body.event_id as string);
            return res.status;
          },
          () => 0,
        );
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      await sleep(status === 202 ? pauseMs : 100);
    }
  };
  const workers = sessions.map(worker);
  return {
    accepted,
    statuses,
    stop: async () => {
      running = false;
      await Promise.all(workers);
    },
  };
}

/** A third party that answers 200 after `delayMs`, counting requests in flight. */
function slowSink(delayMs: number) {
  const state = {
    inFlight: 0,
    delivered: new Set<string>(),
    port: 0,
    server: null as Server | null,
  };
  const server = createServer((req, res) => {
    state.inFlight++;
    req.resume();
    req.on('end', () => {
      setTimeout(() => {
        state.delivered.add(String(req.headers['idempotency-key']));
        state.inFlight--;
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      }, delayMs);
    });
  });
  state.server = server;
  return new Promise<typeof state>((done) =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      state.port = typeof address === 'object' && address ? address.port : 0;
      done(state);
    }),
  );
}

function stats(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { n: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? 0 };
}

describe('Location: one tenant database down does not stop another; shutdown dead-letters nothing', () => {
  let t: TestApp;
  let closed = false;
  let proxy: TcpProxy;
  let a: Tenant;
  let b: Tenant;
  let sink: Awaited<ReturnType<typeof slowSink>>;
  let topics: { topic: string; dlq: string };
  const sm = secretsClient();
  const cleanups: Array<() => Promise<unknown>> = [];
  const partitionOf = Partitioners.DefaultPartitioner();
  const kafka = new Kafka({ brokers: ['127.0.0.1:9092'], logLevel: logLevel.NOTHING });
  let sessionsA: Array<{ user: Identity; id: string }> = [];

  /** A tenant in a silo database of its own, reached at `port` (PostgreSQL, or a proxy in front). */
  async function siloTenant(admin: Identity, port: number, users: number): Promise<Tenant> {
    const db = await scratchDatabase();
    cleanups.push(() => db.drop());
    const secretId = `${process.env.TENANT_SECRET_PREFIX ?? 'tessera-test/tenants'}/silo/${randomUUID()}`;
    await putSecret(
      sm,
      secretId,
      secretJson({
        port,
        database: db.name,
        owner_username: 'tessera_owner',
        owner_password: 'tessera_owner',
      }),
    );
    cleanups.push(() => deleteSecret(sm, secretId));
    const tenant = await createTenant(t, admin, { database_secret_id: secretId });
    // When each row was written (the insert names its columns, so the default fills this in).
    await adminSql(
      'alter table locations add column persisted_at timestamptz not null default clock_timestamp()',
      [],
      db.name,
    );
    const owner = await tenantMember(t, tenant.id, 'tenant_owner');
    const members: Identity[] = [];
    for (let i = 0; i < users; i++) members.push(await tenantMember(t, tenant.id, 'user'));
    return { id: tenant.id, db: db.name, owner, users: members };
  }

  beforeAll(async () => {
    topics = isolateLocationTopics('isolation');
    sink = await slowSink(300);
    Object.assign(process.env, {
      // B's session rows stay served from memory while its database is down, so B keeps
      // streaming (and being accepted) through the whole outage.
      LOCATION_SESSION_CACHE_MS: '180000',
      LOCATION_DELIVERY_ALLOWED_HOSTS: `127.0.0.1:${sink.port}`,
      LOCATION_DELIVERY_TIMEOUT_MS: '5000',
    });
    proxy = await TcpProxy.start({ port: 5432 });
    t = await createTestApp();
    const admin = await platformAdmin(t);
    a = await siloTenant(admin, 5432, 3);
    b = await siloTenant(admin, proxy.port, 2);
  }, 120_000);

  afterAll(async () => {
    delete process.env.LOCATION_SESSION_CACHE_MS;
    if (!closed) await t?.close();
    await proxy?.close();
    await new Promise((done) => sink?.server?.close(done));
    // The tenants' databases and secrets go away below: retire them so no later job looks for them.
    const ids = [a?.id, b?.id].filter(Boolean);
    if (ids.length > 0) {
      await platformSql(`update tenants set status = 'deleted' where id = any($1::uuid[])`, [ids]);
    }
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    sm.destroy();
  });

  async function rows(tenant: Tenant, ids: string[]) {
    return adminSql<{ event_id: string; received_ms: number; persisted_ms: number }>(
      `select event_id, extract(epoch from received_at) * 1000 as received_ms,
              extract(epoch from persisted_at) * 1000 as persisted_ms
         from locations where event_id = any($1::uuid[])`,
      [ids],
      tenant.db,
    );
  }

  it('keeps persisting tenant A while tenant B’s database is unreachable for 60 s; B loses nothing once back', async () => {
    const admin = kafka.admin();
    await admin.connect();
    const metadata = await admin.fetchTopicMetadata({ topics: [topics.topic] });
    await admin.disconnect();
    const partitionMetadata = metadata.topics[0].partitions.map((p) => ({
      partitionId: p.partitionId,
      partitionErrorCode: 0,
      leader: 0,
      replicas: [0],
      isr: [0],
    }));
    const partition = (key: string) =>
      partitionOf({ topic: topics.topic, partitionMetadata, message: { key, value: null } });
    const sessionsOf = async (tenant: Tenant) =>
      Promise.all(tenant.users.map(async (user) => ({ user, id: await startSession(t, user) })));
    sessionsA = await sessionsOf(a);
    let sessionsB = await sessionsOf(b);
    // A's sessions must share a partition with B's: that is where one tenant could hold another.
    for (let i = 0; i < 10; i++) {
      const ofB = new Set(sessionsB.map((s) => partition(s.id)));
      if (sessionsA.some((s) => ofB.has(partition(s.id)))) break;
      for (const s of sessionsB) {
        await request(t.url)
          .post(`/api/v1/location/session/${s.id}/stop`)
          .set('Authorization', s.user.bearer);
      }
      sessionsB = await sessionsOf(b);
    }
    const shared = sessionsA.filter((s) =>
      sessionsB.some((other) => partition(other.id) === partition(s.id)),
    ).length;
    expect(shared).toBeGreaterThan(0);

    const streamA = stream(t.url, sessionsA, 50);
    const streamB = stream(t.url, sessionsB, 50);
    await sleep(3_000);
    proxy.refuse();
    proxy.cut();
    const outageStart = Date.now();
    const acceptedBBeforeOutage = streamB.accepted.length;
    await sleep(OUTAGE_MS);
    const outageEnd = Date.now();
    proxy.accept();
    await sleep(3_000);
    await Promise.all([streamA.stop(), streamB.stop()]);

    const persistedA = await eventually(
      () => rows(a, streamA.accepted),
      (found) => found.length === streamA.accepted.length,
      60_000,
      500,
    );
    const persistedB = await eventually(
      () => rows(b, streamB.accepted),
      (found) => found.length === streamB.accepted.length,
      90_000,
      500,
    );
    const lagA = persistedA.map((row) => row.persisted_ms - row.received_ms);
    const duringOutage = persistedA.filter(
      (row) => row.received_ms >= outageStart && row.received_ms < outageEnd,
    );
    const all = stats(lagA);
    const outage = stats(duringOutage.map((row) => row.persisted_ms - row.received_ms));
    // Lag per 10 s of the outage (max), to show it held throughout and not only on average.
    const windows: number[] = [];
    for (let from = outageStart; from < outageEnd; from += 10_000) {
      const inWindow = duringOutage.filter(
        (r) => r.received_ms >= from && r.received_ms < from + 10_000,
      );
      windows.push(Math.round(Math.max(0, ...inWindow.map((r) => r.persisted_ms - r.received_ms))));
    }
    const lastB = Math.max(...persistedB.map((row) => row.persisted_ms));
    const state = t.app.get(LocationPersisterConsumer).runner?.state;
    console.log(
      `isolation: A accepted ${streamA.accepted.length}, persisted ${persistedA.length}, ` +
        `persist lag ms p50 ${Math.round(all.p50)} p99 ${Math.round(all.p99)} max ${Math.round(all.max)}; ` +
        `during B's ${OUTAGE_MS / 1000} s outage: ${outage.n} updates, p99 ${Math.round(outage.p99)} ` +
        `max ${Math.round(outage.max)}, max per 10 s [${windows.join(', ')}]; ` +
        `B accepted ${streamB.accepted.length} (${streamB.accepted.length - acceptedBBeforeOutage} during/after the outage), ` +
        `persisted ${persistedB.length}, parked records ${state?.parkedRecords ?? '?'}, ` +
        `B's last row ${Math.round(lastB - outageEnd)} ms after its database was back; ` +
        `sessions sharing a partition with B: ${shared}/${sessionsA.length}; ` +
        `statuses A ${JSON.stringify([...streamA.statuses])} B ${JSON.stringify([...streamB.statuses])}`,
    );

    expect(persistedA).toHaveLength(streamA.accepted.length);
    expect(persistedB).toHaveLength(streamB.accepted.length);
    expect(outage.n).toBeGreaterThan(100);
    // A was written while B was down: every A update accepted up to 10 s before B came back
    // was in A's database before B came back (with the whole batch retried for B, A's updates
    // that share a partition with B waited for the end of the outage).
    const late = duringOutage.filter(
      (row) => row.received_ms < outageEnd - 10_000 && row.persisted_ms >= outageEnd,
    );
    expect(late.length).toBe(0);
    expect(streamB.accepted.length).toBeGreaterThan(acceptedBBeforeOutage);
  }, 200_000);

  it('shutdown mid-stream finishes the deliveries in flight and dead-letters none', async () => {
    await setDelivery(t, a.owner, `http://127.0.0.1:${sink.port}/hook`);
    const sessions = sessionsA;
    const admin = kafka.admin();
    await admin.connect();
    const dlqCount = async () =>
      (await admin.fetchTopicOffsets(topics.dlq)).reduce((sum, p) => sum + Number(p.high), 0);
    const dlqBefore = await dlqCount();
    const streamA = stream(t.url, sessions, 20);
    await eventually(
      () => Promise.resolve(sink.delivered.size),
      (n) => n >= 30 && sink.inFlight > 0,
      30_000,
      50,
    );
    const inFlightAtShutdown = sink.inFlight;
    const deliveredBefore = sink.delivered.size;
    closed = true;
    await t.app.close();
    await streamA.stop();
    await sleep(1_000);
    const accepted = streamA.accepted;
    const ledger = await platformSql<{ event_id: string }>(
      'select event_id from failed_location_updates where event_id = any($1::uuid[])',
      [accepted],
    );
    const dlqAfter = await dlqCount();
    await admin.disconnect();
    console.log(
      `shutdown: accepted ${accepted.length}, delivered ${sink.delivered.size} ` +
        `(${deliveredBefore} before the shutdown began), in flight at shutdown ${inFlightAtShutdown}, ` +
        `dead-lettered ${dlqAfter - dlqBefore}, ledger rows ${ledger.length}`,
    );
    expect(inFlightAtShutdown).toBeGreaterThan(0);
    expect(dlqAfter - dlqBefore).toBe(0);
    expect(ledger).toEqual([]);
  }, 60_000);
});
