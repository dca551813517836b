import { randomUUID } from 'node:crypto';
import type { TestingModuleBuilder } from '@nestjs/testing';
import request from 'supertest';
import { Clock } from '../../src/modules/location';
import { TestClock } from '../support/test-clock';
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
import { eventually } from '../support/services';

interface Breaker {
  tenant_id: string;
  target: string;
  state: 'closed' | 'half_open' | 'open';
  last_error: string | null;
  reachable: boolean | null;
}

interface Health {
  status: string;
  breakers: Breaker[];
  consumer: { last_error: string | null };
}

interface Row {
  event_id: string;
  tenant_id: string;
  status: string;
  attempts: number;
  next_retry_at: Date | null;
}

const MINUTE = 60_000;
const RETRY_BATCH = 10;

describe('Location delivery fairness: the operator endpoint, health and breakers per (tenant, target), fair ledger retries', () => {
  const clock = new TestClock();
  let t: TestApp;
  /** One origin shared by both tenants (the breaker test). */
  let shared: HttpSink;
  /** Acme's own endpoint, an origin Globex must never see. */
  let acmeSink: HttpSink;
  /** The operator's THIRD_PARTY_ENDPOINT: http on loopback, not in the allow-list. */
  let operator: HttpSink;
  let topic: string;
  let admin: Identity;
  let acme: LocationTenant;
  let globex: LocationTenant;

  beforeAll(async () => {
    shared = await new HttpSink().start();
    acmeSink = await new HttpSink().start();
    operator = await new HttpSink().start();
    topic = isolateLocationTopics('fairness').topic;
    process.env.THIRD_PARTY_ENDPOINT = `http://127.0.0.1:${operator.port}/operator`;
    process.env.LOCATION_DELIVERY_ALLOWED_HOSTS = `127.0.0.1:${shared.port},127.0.0.1:${acmeSink.port}`;
    process.env.LOCATION_DELIVERY_TIMEOUT_MS = '2000';
    process.env.LOCATION_RETRY_INTERVAL_MS = '150';
    process.env.LOCATION_RETRY_BATCH = String(RETRY_BATCH);
    process.env.LOCATION_BREAKER_VOLUME = '5';
    process.env.LOCATION_BREAKER_RESET_MS = '300000';
    t = await createTestApp({
      override: (builder: TestingModuleBuilder) => builder.overrideProvider(Clock).useValue(clock),
    });
    admin = await platformAdmin(t);
    acme = await locationTenant(t, admin, 1);
    globex = await locationTenant(t, admin, 1);
  }, 120_000);
  afterAll(async () => {
    for (const name of [
      'THIRD_PARTY_ENDPOINT',
      'LOCATION_DELIVERY_ALLOWED_HOSTS',
      'LOCATION_DELIVERY_TIMEOUT_MS',
      'LOCATION_RETRY_INTERVAL_MS',
      'LOCATION_RETRY_BATCH',
      'LOCATION_BREAKER_VOLUME',
      'LOCATION_BREAKER_RESET_MS',
    ])
      delete process.env[name];
    await t?.close();
    for (const sink of [shared, acmeSink, operator]) await sink?.close();
  });

  // Each case starts from answering sinks and no active session, whatever an earlier case left.
  beforeEach(() => {
    for (const sink of [shared, acmeSink, operator]) {
      sink.mode = null;
      sink.decide = null;
    }
  });

  const api = () => request(t.url);
  const begin = async (user: Identity): Promise<string> => {
    const active = await api()
      .get('/api/v1/location/sessions?status=active')
      .set('Authorization', user.bearer);
    for (const session of (active.body.data ?? []) as Array<{ id: string }>)
      await api()
        .post(`/api/v1/location/session/${session.id}/stop`)
        .set('Authorization', user.bearer);
    return startSession(t, user);
  };
  const health = async (who: Identity): Promise<Health> => {
    const res = await api().get('/api/v1/streaming/health').set('Authorization', who.bearer);
    expect(res.status).toBe(200);
    return res.body as Health;
  };
  const post = async (who: Identity, sessionId: string, latitude: number) => {
    const res = await api()
      .post('/api/v1/location/update')
      .set('Authorization', who.bearer)
      .send({ session_id: sessionId, latitude, longitude: 1 });
    expect(res.status).toBe(202);
    return res.body.event_id as string;
  };
  const rows = (ids: string[]) =>
    platformSql<Row>(
      `select event_id, tenant_id, status, attempts, next_retry_at
         from failed_location_updates where event_id = any($1::uuid[])`,
      [ids],
    );
  const origin = (sink: HttpSink) => `http://127.0.0.1:${sink.port}`;

  it("delivers to the operator's own THIRD_PARTY_ENDPOINT (http, loopback, not allow-listed); a signing secret without an endpoint of the tenant's is a 400; a tenant's ::/96 URL is refused", async () => {
    const [user] = globex.users;
    const session = await begin(user);
    const ids = [await post(user, session, 1), await post(user, session, 2)];
    await eventually(
      () => Promise.resolve(ids.filter((id) => operator.accepted.has(id)).length),
      (n) => n === ids.length,
      20_000,
    );
    const filed = await rows(ids);
    console.log(
      `operator endpoint: accepted ${ids.length}, delivered ${ids.filter((id) => operator.accepted.has(id)).length}, in the ledger ${filed.length}`,
    );
    expect(ids.filter((id) => operator.accepted.has(id))).toEqual(ids);
    expect(filed).toEqual([]);

    const rotate = await api()
      .put('/api/v1/location/delivery')
      .set('Authorization', globex.owner.bearer)
      .send({ endpoint_url: null, rotate_signing_secret: true });
    expect(rotate.status).toBe(400);
    expect(rotate.body.code).toBe('LOCATION.SIGNING_NEEDS_ENDPOINT');
    expect(rotate.body.signing_secret).toBeUndefined();
    const view = await api()
      .get('/api/v1/location/delivery')
      .set('Authorization', globex.owner.bearer);
    expect(view.body).toMatchObject({ source: 'operator', signing: false });
    // A tenant's URL stays under the SSRF rules: an IPv4-compatible IPv6 literal is its IPv4.
    for (const url of ['https://[::7f00:1]/hook', 'https://[::a9fe:a9fe]/latest']) {
      const refused = await api()
        .put('/api/v1/location/delivery')
        .set('Authorization', globex.owner.bearer)
        .send({ endpoint_url: url });
      expect({ url, status: refused.status, code: refused.body.code }).toEqual({
        url,
        status: 400,
        code: 'OUTBOUND.URL_NOT_ALLOWED',
      });
    }
    await api()
      .post(`/api/v1/location/session/${session}/stop`)
      .set('Authorization', user.bearer)
      .expect(200);
  });

  it("/streaming/health shows an owner only its own tenant's targets and errors, degraded while its latest delivery failed; admins see every tenant", async () => {
    await setDelivery(t, acme.owner, acmeSink.url);
    const [user] = acme.users;
    const session = await begin(user);
    acmeSink.mode = 500;
    const x = await post(user, session, 3);
    await eventually(
      () => rows([x]),
      (r) => r[0]?.status === 'pending',
      20_000,
    );
    const acmeView = await health(acme.owner);
    const globexView = await health(globex.owner);
    const adminView = await health(admin);
    const text = JSON.stringify(globexView);
    console.log(
      `health: acme ${acmeView.status} ${JSON.stringify(acmeView.breakers)}; globex ${globexView.status} ${JSON.stringify(globexView.breakers)}; admin sees ${adminView.breakers.length} targets`,
    );
    expect(acmeView.breakers).toEqual([
      expect.objectContaining({
        tenant_id: acme.id,
        target: origin(acmeSink),
        last_error: 'HTTP 500',
        reachable: false,
      }),
    ]);
    expect(acmeView.status).toBe('degraded');
    expect(text).not.toContain(String(acmeSink.port));
    expect(text).not.toContain('HTTP 500');
    expect(globexView.breakers.every((b) => b.tenant_id === globex.id)).toBe(true);
    expect(globexView.breakers.map((b) => b.target)).toEqual([origin(operator)]);
    expect(globexView.breakers[0].reachable).toBe(true);
    expect(globexView.status).not.toBe('degraded');
    expect(globexView.consumer.last_error).toBeNull();
    expect(adminView.breakers).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ tenant_id: acme.id, target: origin(acmeSink) }),
        expect.objectContaining({ tenant_id: globex.id, target: origin(operator) }),
      ]),
    );
    const foreign = await api()
      .get(`/api/v1/streaming/health?tenant_id=${acme.id}`)
      .set('Authorization', globex.owner.bearer);
    expect(foreign.status).toBe(403);

    // Mended: the retry delivers it and Acme's target is reachable again.
    acmeSink.mode = null;
    clock.at += MINUTE;
    const [done] = await eventually(
      () => rows([x]),
      (r) => r[0].status === 'resolved',
      15_000,
    );
    expect(done.status).toBe('resolved');
    const after = await health(acme.owner);
    expect(after.breakers[0].reachable).toBe(true);
    await api()
      .post(`/api/v1/location/session/${session}/stop`)
      .set('Authorization', user.bearer)
      .expect(200);
  });

  it("one tenant's failing deliveries open only its own breaker: another tenant's deliveries to the same origin keep flowing, and released rows are pushed out", async () => {
    await setDelivery(t, acme.owner, shared.url);
    await setDelivery(t, globex.owner, shared.url);
    shared.decide = (req) => (req.json.tenant_id === acme.id ? 503 : null);
    const acmeSession = await begin(acme.users[0]);
    const acmeIds: string[] = [];
    for (let i = 0; i < 12; i++) acmeIds.push(await post(acme.users[0], acmeSession, 10 + i));
    const opened = await eventually(
      () => health(acme.owner),
      (h) => h.breakers.some((b) => b.target === origin(shared) && b.state === 'open'),
      20_000,
    );
    expect(opened.breakers.find((b) => b.target === origin(shared))?.state).toBe('open');
    await eventually(
      () => rows(acmeIds),
      (r) => r.length === acmeIds.length,
      20_000,
    );
    const acmeCallsBefore = shared.requests.filter((r) => r.json.tenant_id === acme.id).length;

    const globexSession = await begin(globex.users[0]);
    const globexIds: string[] = [];
    for (let i = 0; i < 20; i++) globexIds.push(await post(globex.users[0], globexSession, 40 + i));
    await eventually(
      () => Promise.resolve(globexIds.filter((id) => shared.accepted.has(id)).length),
      (n) => n === globexIds.length,
      20_000,
    );
    const acmeNow = await health(acme.owner);
    const globexNow = await health(globex.owner);
    const delivered = globexIds.filter((id) => shared.accepted.has(id)).length;
    const globexLedger = await rows(globexIds);
    console.log(
      `breakers per tenant: acme breaker ${acmeNow.breakers.find((b) => b.target === origin(shared))?.state}, acme sink calls ${acmeCallsBefore} of ${acmeIds.length} accepted; globex delivered ${delivered}/${globexIds.length} while acme's breaker is open, globex ledger rows ${globexLedger.length}, globex breaker ${globexNow.breakers.find((b) => b.target === origin(shared))?.state}`,
    );
    expect(delivered).toBe(globexIds.length);
    expect(globexLedger).toEqual([]);
    expect(acmeNow.breakers.find((b) => b.target === origin(shared))?.state).toBe('open');
    expect(globexNow.breakers.find((b) => b.target === origin(shared))?.state).toBe('closed');

    // Acme's rows fall due while its breaker is open: given back, due again later, not next tick.
    const before = await rows(acmeIds);
    clock.at += 2 * MINUTE;
    const released = await eventually(
      () => rows(acmeIds),
      (r) => r.every((row) => new Date(row.next_retry_at!).getTime() > clock.at),
      15_000,
    );
    console.log(
      `released under an open breaker: ${released.filter((row) => new Date(row.next_retry_at!).getTime() > clock.at).length}/${acmeIds.length} pushed out, next due in ${(Math.min(...released.map((row) => new Date(row.next_retry_at!).getTime())) - clock.at) / 1000} s (schedule clock)`,
    );
    expect(released.every((row) => new Date(row.next_retry_at!).getTime() > clock.at)).toBe(true);
    for (const row of released) {
      expect(row.status).toBe('pending');
      expect(row.attempts).toBe(before.find((b) => b.event_id === row.event_id)!.attempts);
    }
    expect(shared.requests.filter((r) => r.json.tenant_id === acme.id).length).toBe(
      acmeCallsBefore,
    );
    shared.decide = null;
    for (const [who, session] of [
      [acme.users[0], acmeSession],
      [globex.users[0], globexSession],
    ] as const)
      await api()
        .post(`/api/v1/location/session/${session}/stop`)
        .set('Authorization', who.bearer)
        .expect(200);
  });

  it("a tenant flooding the ledger with due rows does not hold back another's: each tick claims round-robin per tenant, oldest due first", async () => {
    await setDelivery(t, acme.owner, acmeSink.url);
    await setDelivery(t, globex.owner, shared.url);
    const FLOOD = 300;
    const now = clock.at;
    const ledgerRow = (
      tenantId: string,
      createdAt: number,
      dueAt: number,
    ): { tenant: string; event: string; payload: string; created: string; due: string } => {
      const event = randomUUID();
      const payload = {
        v: 1,
        event_id: event,
        tenant_id: tenantId,
        session_id: randomUUID(),
        user_id: 'flood-user',
        latitude: 1,
        longitude: 2,
        accuracy: null,
        recorded_at: new Date(createdAt).toISOString(),
        received_at: new Date(createdAt).toISOString(),
      };
      return {
        tenant: tenantId,
        event,
        payload: JSON.stringify(payload),
        created: new Date(createdAt).toISOString(),
        due: new Date(dueAt).toISOString(),
      };
    };
    // Acme: half created before Globex's rows and half after (newest-first starves Globex), all
    // due before Globex's (oldest-due-first alone starves Globex too).
    const flood = Array.from({ length: FLOOD }, (_, i) =>
      ledgerRow(
        acme.id,
        i < FLOOD / 2 ? now - 60 * MINUTE + i : now - 10 * MINUTE + i,
        now - 30 * MINUTE + i,
      ),
    );
    const few = Array.from({ length: 3 }, (_, i) =>
      ledgerRow(globex.id, now - 30 * MINUTE + i, now - MINUTE + i),
    );
    const all = [...flood, ...few];
    const started = Date.now();
    await platformSql(
      `insert into failed_location_updates
         (tenant_id, event_id, session_id, user_id, latitude, longitude, accuracy, recorded_at,
          payload, error_message, attempts, status, next_retry_at, created_at, updated_at, source_topic)
       select r.tenant, r.event, (r.payload::jsonb ->> 'session_id')::uuid, 'flood-user', 1, 2, null,
              r.created, r.payload::jsonb, 'HTTP 503', 1, 'pending', r.due, r.created, r.created, $2
         from jsonb_to_recordset($1::jsonb)
           as r(tenant uuid, event uuid, payload text, created timestamptz, due timestamptz)`,
      [JSON.stringify(all), topic],
    );
    const globexIds = few.map((r) => r.event);
    await eventually(
      () => Promise.resolve(globexIds.filter((id) => shared.accepted.has(id)).length),
      (n) => n === globexIds.length,
      30_000,
      20,
    );
    const lastGlobex = Math.max(...globexIds.map((id) => shared.accepted.get(id)?.at ?? Infinity));
    const floodIds = new Set(flood.map((r) => r.event));
    const acmeBefore = acmeSink.requests.filter(
      (r) => floodIds.has(r.idempotencyKey) && r.at <= lastGlobex,
    );
    const oldestDue = new Set(flood.slice(0, RETRY_BATCH).map((r) => r.event));
    console.log(
      `fair ledger: globex's ${globexIds.length} rows delivered ${lastGlobex - started} ms after the flood of ${FLOOD} acme rows was filed; acme rows delivered before globex's last: ${acmeBefore.length} (batch ${RETRY_BATCH}); of them among acme's ${RETRY_BATCH} oldest due: ${acmeBefore.filter((r) => oldestDue.has(r.idempotencyKey)).length}`,
    );
    expect(globexIds.every((id) => shared.accepted.has(id))).toBe(true);
    // All of Globex's rows were in the first tick that saw the flood.
    expect(acmeBefore.length).toBeLessThanOrEqual(RETRY_BATCH - globexIds.length);
    expect(acmeBefore.every((r) => oldestDue.has(r.idempotencyKey))).toBe(true);
    // The flood drains too (nothing starved the other way).
    const drained = await eventually(
      () =>
        platformSql<{ n: number }>(
          `select count(*)::int as n from failed_location_updates
            where event_id = any($1::uuid[]) and status = 'resolved'`,
          [flood.map((r) => r.event)],
        ),
      ([r]) => r.n === FLOOD,
      60_000,
    );
    console.log(`fair ledger: acme's flood resolved ${drained[0].n}/${FLOOD}`);
    expect(drained[0].n).toBe(FLOOD);
  });
});
