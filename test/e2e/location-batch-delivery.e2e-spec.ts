import request from 'supertest';
import { signBody } from '../../src/shared/outbound';
import { createTestApp, type TestApp } from '../support/app';
import {
  HttpSink,
  isolateLocationTopics,
  locationTenant,
  type LocationTenant,
  platformAdmin,
  type SinkRequest,
  setDelivery,
  startSession,
} from '../support/http-sink';
import type { Identity } from '../support/identities';
import { eventually } from '../support/services';
import { platformSql } from '../support/identities';

interface BatchItem {
  idempotency_key: string;
  signature?: string;
  update: { event_id: string; tenant_id: string; session_id: string };
}

const ENV = {
  LOCATION_RETRY_BASE_MS: '300',
  LOCATION_RETRY_INTERVAL_MS: '200',
  LOCATION_BREAKER_RESET_MS: '500',
  LOCATION_DELIVERY_TIMEOUT_MS: '2000',
};

/**
 * Batched delivery: a tenant that asks for it gets its updates as arrays (each item keyed and
 * signed on its own), a tenant that does not keeps one update per POST, and a failed batch loses
 * nothing: every item goes through the dead-letter topic and the ledger like a single update.
 */
describe('Location delivery in batches: arrays per POST, per-item keys and signatures, nothing lost', () => {
  let t: TestApp;
  let sink: HttpSink;
  let admin: Identity;
  let a: LocationTenant; // takes batches
  let b: LocationTenant; // one update per POST, same sink
  let secret: string;
  let sessionsA: Array<{ user: Identity; session: string }>;
  let sessionB: string;

  beforeAll(async () => {
    sink = await new HttpSink().start();
    isolateLocationTopics('batch');
    process.env.LOCATION_DELIVERY_ALLOWED_HOSTS = `127.0.0.1:${sink.port}`;
    Object.assign(process.env, ENV);
    t = await createTestApp();
    admin = await platformAdmin(t);
    [a, b] = await Promise.all([locationTenant(t, admin, 4), locationTenant(t, admin, 1)]);
    const set = await setDelivery(t, a.owner, sink.url, {
      rotate_signing_secret: true,
      batch: { max_items: 8, linger_ms: 40 },
    });
    expect(set.batch).toEqual({ max_items: 8, linger_ms: 40 });
    secret = set.signing_secret as string;
    await setDelivery(t, b.owner, sink.url);
    sessionsA = await Promise.all(
      a.users.map(async (user) => ({ user, session: await startSession(t, user) })),
    );
    sessionB = await startSession(t, b.users[0]);
  }, 120_000);
  afterAll(async () => {
    delete process.env.LOCATION_DELIVERY_ALLOWED_HOSTS;
    for (const key of Object.keys(ENV)) delete process.env[key];
    await t?.close();
    await sink?.close();
  });

  const api = () => request(t.url);
  const post = (user: Identity, session: string, latitude: number) =>
    api()
      .post('/api/v1/location/update')
      .set('Authorization', user.bearer)
      .send({ session_id: session, latitude, longitude: 13.4, accuracy: 3 });
  /** The batched requests of the sink so far, with their items. */
  const batches = () =>
    sink.requests
      .filter((req) => Array.isArray((req.json as { updates?: unknown }).updates))
      .map((req) => ({ req, items: (req.json as { updates: BatchItem[] }).updates }));
  /** Posts `rounds` updates on each of A's sessions (sessions in parallel) and `rounds` of B's. */
  const postRounds = async (rounds: number) => {
    const ids: string[] = [];
    const idsB: string[] = [];
    await Promise.all([
      ...sessionsA.map(async ({ user, session }) => {
        for (let i = 0; i < rounds; i++) {
          const res = await post(user, session, i / 10);
          expect(res.status).toBe(202);
          ids.push(res.body.event_id as string);
        }
      }),
      (async () => {
        for (let i = 0; i < rounds; i++) {
          const res = await post(b.users[0], sessionB, i / 10);
          expect(res.status).toBe(202);
          idsB.push(res.body.event_id as string);
        }
      })(),
    ]);
    return { ids, idsB };
  };
  /** Every item of A's 2xx batches, by its key. */
  const deliveredItems = () => {
    const out = new Map<string, { item: BatchItem; req: SinkRequest }[]>();
    for (const { req, items } of batches()) {
      if (!sink.accepted.has(req.idempotencyKey)) continue;
      if (sink.accepted.get(req.idempotencyKey) !== req) continue; // a replayed batch: counted once
      for (const item of items) {
        const seen = out.get(item.idempotency_key) ?? [];
        out.set(item.idempotency_key, [...seen, { item, req }]);
      }
    }
    return out;
  };

  it("every accepted update arrives once, A's in signed arrays of at most 8, B's one per POST", async () => {
    const { ids, idsB } = await postRounds(15);
    const items = await eventually(
      () => Promise.resolve(deliveredItems()),
      (got) => ids.every((id) => got.has(id)),
      30_000,
    );
    await eventually(
      () => Promise.resolve(idsB.filter((id) => sink.accepted.has(id)).length),
      (n) => n === idsB.length,
      30_000,
    );
    const sizes = batches().map(({ items: each }) => each.length);
    console.log(
      `A: accepted ${ids.length}, delivered ${ids.filter((id) => items.has(id)).length} in ${sizes.length} POSTs (sizes ${JSON.stringify(sizes)}); B: accepted ${idsB.length}, delivered ${idsB.filter((id) => sink.accepted.has(id)).length} in single POSTs`,
    );
    expect(ids.filter((id) => items.get(id)?.length !== 1)).toEqual([]);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(8);
    expect(Math.max(...sizes)).toBeGreaterThan(1);
    for (const id of ids) {
      const [{ item, req }] = items.get(id)!;
      expect(item.update).toMatchObject({ event_id: id, tenant_id: a.id });
      const [, tPart, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(item.signature ?? '') ?? [];
      expect(v1).toBe(signBody(secret, Number(tPart), JSON.stringify(item.update)));
      // The request as a whole is signed as a single delivery is.
      const [, tReq, vReq] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(req.signature ?? '') ?? [];
      expect(vReq).toBe(signBody(secret, Number(tReq), req.body));
      expect(req.idempotencyKey).toMatch(/^batch-/);
    }
    // A's session order holds inside and across batches: its updates arrive in the order posted.
    for (const { session } of sessionsA) {
      const arrived = batches()
        .flatMap(({ items: each }) => each)
        .filter((item) => item.update.session_id === session)
        .map((item) => ids.indexOf(item.update.event_id));
      expect(arrived).toEqual([...arrived].sort((x, y) => x - y));
    }
    // B: one update per POST, keyed by its event id; none of B's in A's arrays.
    for (const id of idsB) expect(sink.accepted.get(id)!.json).toMatchObject({ event_id: id });
    expect(
      batches().flatMap(({ items: each }) => each.filter((i) => i.update.tenant_id !== a.id)),
    ).toEqual([]);
  });

  it('a failed batch loses nothing: 503s, then a 400, each item dead-lettered and retried or filed alone', async () => {
    let refused = 0;
    let rejected: BatchItem[] = [];
    sink.decide = (req) => {
      const items = (req.json as { updates?: BatchItem[] }).updates;
      if (!Array.isArray(items) || refused >= 4) return null;
      refused++;
      if (refused < 4) return 503;
      rejected = items;
      return 400;
    };
    try {
      const { ids } = await postRounds(6);
      const filed = await eventually(
        () =>
          platformSql<{ event_id: string; status: string }>(
            `select event_id, status from failed_location_updates
              where tenant_id = $1 and event_id = any($2::uuid[])`,
            [a.id, ids],
          ),
        (rows) => rows.some((r) => r.status === 'permanently_failed'),
        30_000,
      );
      expect(filed.length).toBeGreaterThan(0);
      // The 400's items are filed one by one; every other update reaches the sink.
      const permanent = await platformSql<{ event_id: string }>(
        `select event_id from failed_location_updates
          where tenant_id = $1 and event_id = any($2::uuid[]) and status = 'permanently_failed'`,
        [a.id, ids],
      );
      expect(rejected.length).toBeGreaterThan(0);
      expect(permanent.map((r) => r.event_id).sort()).toEqual(
        rejected.map((item) => item.idempotency_key).sort(),
      );
      const rest = ids.filter((id) => !permanent.some((r) => r.event_id === id));
      const items = await eventually(
        () => Promise.resolve(deliveredItems()),
        (got) => rest.every((id) => got.has(id)),
        60_000,
      );
      console.log(
        `accepted ${ids.length}; delivered ${rest.filter((id) => items.has(id)).length}; filed as permanently failed (the 400's items) ${permanent.length}; lost ${ids.length - rest.filter((id) => items.has(id)).length - permanent.length}; refused POSTs ${refused}`,
      );
      expect(rest.filter((id) => !items.has(id))).toEqual([]);
      expect(rest.length + permanent.length).toBe(ids.length);
    } finally {
      sink.decide = null;
    }
  }, 120_000);

  it("settings: batch needs the tenant's own endpoint, bounds are 2-500 and 0-1000 ms, absent keeps it, null turns it off; another tenant changes only its own", async () => {
    const put = (who: Identity, body: Record<string, unknown>) =>
      api().put('/api/v1/location/delivery').set('Authorization', who.bearer).send(body);
    const operator = await put(b.owner, { endpoint_url: null, batch: { max_items: 5 } });
    expect(operator.status).toBe(400);
    expect(operator.body.code).toBe('LOCATION.BATCH_NEEDS_ENDPOINT');
    for (const batch of [
      { max_items: 1 },
      { max_items: 501 },
      { max_items: 5, linger_ms: 1001 },
      { max_items: 5, linger_ms: -1 },
      { max_items: 2.5 },
      { max_items: 5, extra: true },
      { linger_ms: 5 },
    ]) {
      const res = await put(b.owner, { endpoint_url: sink.url, batch });
      expect({ batch, status: res.status }).toEqual({ batch, status: 400 });
      expect(JSON.stringify(res.body.details)).toContain('batch');
    }
    // B's own changes leave A's settings alone.
    const bOn = await put(b.owner, { endpoint_url: sink.url, batch: { max_items: 3 } });
    expect(bOn.body.batch).toEqual({ max_items: 3, linger_ms: 0 });
    const kept = await put(b.owner, { endpoint_url: sink.url, enabled: true });
    expect(kept.body.batch).toEqual({ max_items: 3, linger_ms: 0 });
    const aView = await api().get('/api/v1/location/delivery').set('Authorization', a.owner.bearer);
    expect(aView.body.batch).toEqual({ max_items: 8, linger_ms: 40 });
    const off = await put(b.owner, { endpoint_url: sink.url, batch: null });
    expect(off.body.batch).toBeNull();
    const toOperator = await put(a.owner, { endpoint_url: null });
    expect(toOperator.body).toMatchObject({ source: 'operator', batch: null });
    const back = await put(a.owner, { endpoint_url: sink.url });
    expect(back.body.batch).toBeNull();
  });
});
