import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { createTestApp, type TestApp } from '../support/app';
import { createTenant, type Identity, platformAdmin, tenantMember } from '../support/identities';
import { adminSql, sqlAs, TENANT_DB } from '../support/tenancy';

type Tenant = { id: string; api_key: string };
type Answered = { id: string; seq: number; tenant_id: string };

/** Ingestion, validation, idempotency, seq, queries and stats of the events feed (real services). */
describe('events: POST /api/v1/events, GET /api/v1/events, /events/stats', () => {
  let t: TestApp;
  let admin: Identity;
  let a: Tenant;
  let b: Tenant;
  let ownerA: Identity;

  const post = (key: string, body: unknown, path = '/api/v1/events') =>
    request(t.url)
      .post(path)
      .set('X-API-Key', key)
      .send(body as object);
  const list = (key: string, query: Record<string, string | number> = {}) =>
    request(t.url).get('/api/v1/events').set('X-API-Key', key).query(query);

  beforeAll(async () => {
    t = await createTestApp();
    admin = await platformAdmin(t);
    a = await createTenant(t, admin);
    b = await createTenant(t, admin);
    ownerA = await tenantMember(t, a.id, 'tenant_owner');
  });
  afterAll(() => t.close());

  it('stores an event with the next seq, answers it with the rate limit headers', async () => {
    const res = await post(a.api_key, {
      event_type: 'order.created',
      metadata: { order: 1 },
      timestamp: '2026-01-02T03:04:05.678+02:00',
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      tenant_id: a.id,
      seq: expect.any(Number),
      event_type: 'order.created',
      source: 'api',
      timestamp: '2026-01-02T01:04:05.678Z',
      metadata: { order: 1 },
    });
    expect(Number(res.headers['x-ratelimit-limit'])).toBeGreaterThan(0);
    expect(res.headers['x-ratelimit-remaining']).toBeDefined();
    // `type` is a synonym; a bearer token of a member works too.
    const byBearer = await request(t.url)
      .post('/api/v1/events')
      .set('Authorization', ownerA.bearer)
      .send({ type: 'order.paid', source: 'billing' });
    expect(byBearer.status).toBe(201);
    expect(byBearer.body).toMatchObject({ event_type: 'order.paid', source: 'billing' });
    expect(byBearer.body.seq).toBeGreaterThan(res.body.seq);
  });

  it.each([
    ['an event_type with a space', { event_type: 'bad type' }, 400, 'event_type'],
    ['no event_type', { metadata: {} }, 400, 'event_type'],
    ['a date that is not RFC 3339', { event_type: 'x', timestamp: '02/01/2026' }, 400, 'timestamp'],
    ['30 February', { event_type: 'x', timestamp: '2026-02-30T00:00:00Z' }, 400, 'timestamp'],
    ['metadata that is an array', { event_type: 'x', metadata: [1] }, 400, 'metadata'],
    [
      'metadata over 64 KiB',
      { event_type: 'x', metadata: { s: 'x'.repeat(70_000) } },
      413,
      'metadata',
    ],
    ['metadata 33 levels deep', { event_type: 'x', metadata: nest(33) }, 400, 'metadata'],
    ['a NUL character', { event_type: 'x', metadata: { s: 'a\u0000b' } }, 400, 'metadata'],
  ])('refuses %s', async (_label, body, status, field) => {
    const res = await post(a.api_key, body);
    expect(res.status).toBe(status);
    expect(JSON.stringify(res.body)).toContain(field);
  });

  it('accepts 32 levels of metadata and any RFC 3339 offset', async () => {
    expect((await post(a.api_key, { event_type: 'deep', metadata: nest(32) })).status).toBe(201);
    const res = await post(a.api_key, { event_type: 'tz', timestamp: '2026-06-01T00:00:00-07:30' });
    expect(res.status).toBe(201);
    expect(res.body.timestamp).toBe('2026-06-01T07:30:00.000Z');
  });

  it('refuses bad and foreign credentials before any work', async () => {
    expect((await post('tsk_not-a-key', { event_type: 'x' })).status).toBe(401);
    expect((await request(t.url).post('/api/v1/events').send({ event_type: 'x' })).status).toBe(
      401,
    );
    // A key of A with a body tenant_id of B: 403, nothing stored in either tenant.
    const marker = `foreign-${randomUUID()}`;
    const res = await post(a.api_key, { event_type: marker, tenant_id: b.id });
    expect(res.status).toBe(403);
    const batch = await post(
      a.api_key,
      { events: [{ event_type: marker }, { event_type: marker, tenant_id: b.id }] },
      '/api/v1/events/batch',
    );
    expect(batch.status).toBe(403);
    expect((await list(a.api_key, { event_type: marker })).body.data).toHaveLength(0);
    expect((await list(b.api_key, { event_type: marker })).body.data).toHaveLength(0);
    // Its own tenant id in the body is fine.
    expect((await post(a.api_key, { event_type: 'own', tenant_id: a.id })).status).toBe(201);
  });

  it('a repeated event_id answers the stored event (200), never a second row', async () => {
    const eventId = randomUUID();
    const first = await post(a.api_key, { event_type: 'idem', event_id: eventId });
    expect(first.status).toBe(201);
    const again = await Promise.all(
      [1, 2, 3].map(() => post(a.api_key, { event_type: 'idem', event_id: eventId })),
    );
    for (const res of again) {
      expect(res.status).toBe(200);
      expect(res.body.id).toBe(first.body.id);
      expect(res.body.seq).toBe(first.body.seq);
    }
    // The same client id in another tenant is another event.
    expect((await post(b.api_key, { event_type: 'idem', event_id: eventId })).status).toBe(201);
    expect((await list(a.api_key, { event_type: 'idem' })).body.data).toHaveLength(1);
  });

  it('a batch stores its events in order with consecutive seqs; a repeated id inside it maps to one row', async () => {
    const id = randomUUID();
    const res = await post(
      a.api_key,
      {
        events: [
          { event_type: 'batch.a', event_id: id },
          { event_type: 'batch.b' },
          { event_type: 'batch.a', event_id: id },
        ],
      },
      '/api/v1/events/batch',
    );
    expect(res.status).toBe(201);
    const [x, y, z] = res.body.data as Array<{ id: string; seq: number }>;
    expect(y.seq).toBe(x.seq + 1);
    expect(z.id).toBe(x.id);
    expect((await post(a.api_key, { events: [] }, '/api/v1/events/batch')).status).toBe(400);
    const tooMany = { events: Array.from({ length: 501 }, () => ({ event_type: 'x' })) };
    expect((await post(a.api_key, tooMany, '/api/v1/events/batch')).status).toBe(400);
  });

  it('concurrent ingestion: seq strictly increasing with no gap and no duplicate', async () => {
    const tenant = await createTenant(t, admin);
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        i % 3 === 0
          ? post(
              tenant.api_key,
              { events: [{ event_type: 'c' }, { event_type: 'c' }] },
              '/api/v1/events/batch',
            )
          : post(tenant.api_key, { event_type: 'c' }),
      ),
    );
    const mine = results
      .flatMap((r) => (r.body.data ?? [r.body]) as Array<{ seq: number }>)
      .map((e) => e.seq);
    // Every seq of the tenant (its lifecycle facts too): 1..max, no gap, no duplicate.
    const all: number[] = [];
    let cursor: string | undefined;
    do {
      const page = await list(tenant.api_key, { limit: 100, ...(cursor ? { cursor } : {}) });
      all.push(...(page.body.data as Array<{ seq: number }>).map((e) => e.seq));
      cursor = page.body.next_cursor ?? undefined;
    } while (cursor);
    all.sort((x, y) => x - y);
    console.log(
      `concurrent ingestion: ${results.length} requests, ${mine.length} events (${new Set(mine).size} distinct seqs); the tenant holds seq 1..${all.at(-1)} in ${all.length} rows`,
    );
    expect(new Set(mine).size).toBe(80);
    expect(all).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
  });

  /** Every stored seq of a tenant, read as the superuser (RLS aside), and its rows of one marker. */
  const storedOf = async (tenantId: string, marker: string) => {
    const rows = await adminSql<{
      id: string;
      seq: string;
      marker: string | null;
      cid: string | null;
    }>(
      `select id, seq, metadata->>'marker' as marker, client_event_id as cid
         from events where tenant_id = $1 order by seq`,
      [tenantId],
      TENANT_DB,
    );
    return {
      seqs: rows.map((r) => Number(r.seq)),
      marked: rows.filter((r) => r.marker === marker),
    };
  };
  const metricSum = async (series: string) => {
    const text = (await request(t.url).get('/metrics')).text;
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line ? Number(line.slice(series.length + 1)) : 0;
  };

  it('concurrent posts of one tenant share transactions: each 2xx event stored once, seq gap-free in commit order, 4xx/5xx store nothing, duplicates answered as alone', async () => {
    const tenant = await createTenant(t, admin);
    const owner = { user: 'tessera_owner', password: 'tessera_owner', database: TENANT_DB };
    const poison = randomUUID();
    const fn = `ingest_poison_${poison.replace(/-/g, '')}`;
    // One request per run carries an event this trigger refuses: a failure inside a shared
    // transaction that must stay that request's own.
    await sqlAs(
      owner,
      `create function ${fn}() returns trigger language plpgsql as $$
         begin
           if new.metadata->>'poison' = '${poison}' then raise exception 'poisoned event'; end if;
           return new;
         end $$;
       create trigger ${fn} before insert on events for each row execute function ${fn}();`,
    );
    type Item = { key: number | null };
    type Op =
      | { kind: 'single'; item: Item }
      | { kind: 'batch'; items: Item[] }
      | { kind: 'invalid' }
      | { kind: 'poison'; items: Item[] };
    const item = fc.record({ key: fc.option(fc.integer({ min: 0, max: 7 }), { nil: null }) });
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 3, arbitrary: item.map((i) => ({ kind: 'single' as const, item: i })) },
      {
        weight: 1,
        arbitrary: fc
          .array(item, { minLength: 1, maxLength: 5 })
          .map((items) => ({ kind: 'batch' as const, items })),
      },
    );
    const plan = fc
      .tuple(
        fc.array(op, { minLength: 12, maxLength: 40 }),
        fc.nat(40),
        fc.nat(40),
        fc.array(item, { minLength: 0, maxLength: 3 }),
      )
      .map(([ops, at, poisonAt, withPoison]): Op[] => {
        const all: Op[] = [...ops];
        all.splice(at % (all.length + 1), 0, { kind: 'invalid' });
        all.splice(poisonAt % (all.length + 1), 0, { kind: 'poison', items: withPoison });
        return all;
      });
    let runs = 0;
    let requests = 0;
    let stored = 0;
    let snapshots = 0;
    // This tenant's series (the ingestion figures carry tenant_id).
    const batchSeries = `tessera_events_ingest_batch_requests_count{tenant_id="${tenant.id}"}`;
    const requestSeries = `tessera_events_ingest_batch_requests_sum{tenant_id="${tenant.id}"}`;
    const batchesBefore = await metricSum(batchSeries);
    const requestsBefore = await metricSum(requestSeries);
    try {
      await fc.assert(
        fc.asyncProperty(plan, async (ops) => {
          runs++;
          const marker = randomUUID();
          const eventIdOf = (key: number) => `${marker}-${key}`;
          const body = ({ key }: Item) => ({
            event_type: 'prop',
            metadata: { marker } as Record<string, unknown>,
            ...(key === null ? {} : { event_id: eventIdOf(key) }),
          });
          // A reader polls while the writers run: every snapshot holds seq 1..max, no hole.
          let writing = true;
          const holes: string[] = [];
          const reader = (async () => {
            while (writing) {
              const [row] = await adminSql<{ n: string; max: string | null }>(
                'select count(*) as n, max(seq) as max from events where tenant_id = $1',
                [tenant.id],
                TENANT_DB,
              );
              snapshots++;
              if (Number(row.n) !== Number(row.max ?? 0))
                holes.push(`${row.n} rows, max ${row.max}`);
            }
          })();
          const answers = await Promise.all(
            ops.map((o) => {
              if (o.kind === 'single') return post(tenant.api_key, body(o.item));
              if (o.kind === 'invalid')
                return post(tenant.api_key, { event_type: 'bad type', metadata: { marker } });
              const events = o.items.map(body);
              if (o.kind === 'poison')
                events.splice(events.length >> 1, 0, {
                  event_type: 'prop',
                  metadata: { marker, poison },
                });
              return post(tenant.api_key, { events }, '/api/v1/events/batch');
            }),
          );
          writing = false;
          await reader;
          requests += ops.length;

          const answeredIds = new Set<string>();
          const byEventId = new Map<string, Set<string>>();
          const created201 = new Map<string, number>();
          ops.forEach((o, i) => {
            const res = answers[i];
            if (o.kind === 'invalid') return expect(res.status).toBe(400);
            if (o.kind === 'poison') return expect(res.status).toBe(500);
            const items = o.kind === 'single' ? [o.item] : o.items;
            const events = (o.kind === 'single' ? [res.body] : res.body.data) as Answered[];
            if (o.kind === 'single') expect([200, 201]).toContain(res.status);
            else expect(res.status).toBe(201);
            items.forEach(({ key }, j) => {
              expect(events[j].tenant_id).toBe(tenant.id);
              answeredIds.add(events[j].id);
              if (key === null) return;
              const ids = byEventId.get(eventIdOf(key)) ?? new Set<string>();
              byEventId.set(eventIdOf(key), ids.add(events[j].id));
              if (o.kind === 'single' && res.status === 201)
                created201.set(eventIdOf(key), (created201.get(eventIdOf(key)) ?? 0) + 1);
            });
            // A batch's new events without an event_id keep their input order in seq.
            const fresh = items.flatMap(({ key }, j) => (key === null ? [events[j].seq] : []));
            expect(fresh).toEqual([...fresh].sort((x, y) => x - y));
          });
          // One row per event_id, whoever answered it; at most one 201 among single posts.
          for (const [eventId, ids] of byEventId) {
            expect({ eventId, rows: ids.size }).toEqual({ eventId, rows: 1 });
            expect(created201.get(eventId) ?? 0).toBeLessThanOrEqual(1);
          }
          const { seqs, marked } = await storedOf(tenant.id, marker);
          stored += marked.length;
          // Stored rows of this run are exactly the events answered 2xx: nothing of a 4xx/5xx.
          expect(new Set(marked.map((r) => r.id))).toEqual(answeredIds);
          expect(new Set(marked.map((r) => r.cid).filter(Boolean)).size).toBe(byEventId.size);
          expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, k) => k + 1));
          expect(holes).toEqual([]);
        }),
        { seed: 20_261_204, numRuns: 6, endOnFailure: true },
      );
    } finally {
      await sqlAs(
        owner,
        `drop trigger if exists ${fn} on events; drop function if exists ${fn}();`,
      );
    }
    const batches = (await metricSum(batchSeries)) - batchesBefore;
    const shared = (await metricSum(requestSeries)) - requestsBefore;
    console.log(
      `shared ingestion property: ${runs} runs, ${requests} requests (one 400 and one poisoned 500 each), ${stored} events stored; ${shared} requests went through ${batches} transactions; ${snapshots} reader snapshots, none with a hole`,
    );
  });

  it('two tenants posting at once each see only their own events', async () => {
    const [x, y] = await Promise.all([createTenant(t, admin), createTenant(t, admin)]);
    const marker = randomUUID();
    const sent = { [x.id]: 0, [y.id]: 0 };
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => {
        const tenant = i % 2 ? y : x;
        const batch = i % 5 === 0;
        sent[tenant.id] += batch ? 3 : 1;
        const one = { event_type: 'pair', metadata: { marker, i } };
        return batch
          ? post(tenant.api_key, { events: [one, one, one] }, '/api/v1/events/batch')
          : post(tenant.api_key, one);
      }),
    );
    for (const res of answers) expect(res.status).toBe(201);
    const seen = async (tenant: Tenant) => {
      const res = await list(tenant.api_key, { event_type: 'pair', limit: 100 });
      return res.body.data as Answered[];
    };
    const [ofX, ofY] = await Promise.all([seen(x), seen(y)]);
    const storedX = (await storedOf(x.id, marker)).marked.length;
    const storedY = (await storedOf(y.id, marker)).marked.length;
    console.log(
      `two tenants at once: sent ${sent[x.id]} / ${sent[y.id]}, listed ${ofX.length} / ${ofY.length}, stored ${storedX} / ${storedY}, foreign in either list ${[...ofX.filter((e) => e.tenant_id !== x.id), ...ofY.filter((e) => e.tenant_id !== y.id)].length}`,
    );
    expect(ofX.every((e) => e.tenant_id === x.id)).toBe(true);
    expect(ofY.every((e) => e.tenant_id === y.id)).toBe(true);
    expect([ofX.length, ofY.length]).toEqual([sent[x.id], sent[y.id]]);
    expect([storedX, storedY]).toEqual([sent[x.id], sent[y.id]]);
  });

  it('lists newest first with combined filters and stable cursor pages; bad input is a 400', async () => {
    const tenant = await createTenant(t, admin);
    const events = Array.from({ length: 25 }, (_, i) => ({
      event_type: i % 2 ? 'odd' : 'even',
      source: i % 5 ? 'web' : 'mobile',
      timestamp: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(),
      metadata: { i },
    }));
    expect((await post(tenant.api_key, { events }, '/api/v1/events/batch')).status).toBe(201);
    const seen: number[] = [];
    let cursor: string | undefined;
    do {
      const res = await list(tenant.api_key, {
        limit: 7,
        event_type: 'even',
        ...(cursor ? { cursor } : {}),
      });
      expect(res.status).toBe(200);
      seen.push(...(res.body.data as Array<{ metadata: { i: number } }>).map((e) => e.metadata.i));
      cursor = res.body.next_cursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual([24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0]);
    const combined = await list(tenant.api_key, {
      event_type: 'even',
      source: 'mobile',
      since: '2026-01-01T00:05:00Z',
      until: '2026-01-01T00:20:00Z',
    });
    expect(
      (combined.body.data as Array<{ metadata: { i: number } }>).map((e) => e.metadata.i),
    ).toEqual([10]);
    const bad: Array<Record<string, string | number>> = [
      { cursor: 'nope' },
      { limit: 0 },
      { limit: 101 },
      { since: 'yesterday' },
      { colour: 'red' },
    ];
    for (const query of bad) expect((await list(tenant.api_key, query)).status).toBe(400);
    expect(
      (
        await list(b.api_key, {
          event_type: 'even',
          since: '2026-01-01T00:00:00Z',
          until: '2026-01-02T00:00:00Z',
        })
      ).body.data,
    ).toHaveLength(0);
  });

  it('search matches metadata text literally: %, _, quote and backslash are not wildcards', async () => {
    const tenant = await createTenant(t, admin);
    const values = ['100% sure', '100 sure', 'a_b', 'axb', "it's", 'its', 'c:\\dir', 'c:dir'];
    await post(
      tenant.api_key,
      { events: values.map((v) => ({ event_type: 'note', metadata: { v } })) },
      '/api/v1/events/batch',
    );
    const found = async (search: string) =>
      (
        (await list(tenant.api_key, { search })).body.data as Array<{ metadata: { v: string } }>
      ).map((e) => e.metadata.v);
    expect(await found('%')).toEqual(['100% sure']);
    expect(await found('a_b')).toEqual(['a_b']);
    expect(await found("'")).toEqual(["it's"]);
    expect(await found('\\')).toEqual(['c:\\dir']);
    expect(await found('sure')).toEqual(['100 sure', '100% sure']);
  });

  it('stats: totals by type and by time bucket; an event type named total leaves the totals right', async () => {
    const tenant = await createTenant(t, admin);
    const at = (minute: number) => new Date(Date.UTC(2026, 2, 1, 10, minute)).toISOString();
    const events = [
      ...Array.from({ length: 3 }, (_, i) => ({ event_type: 'total', timestamp: at(i) })),
      ...Array.from({ length: 2 }, (_, i) => ({ event_type: 'login', timestamp: at(61 + i) })),
    ];
    await post(tenant.api_key, { events }, '/api/v1/events/batch');
    const res = await request(t.url)
      .get('/api/v1/events/stats')
      .set('X-API-Key', tenant.api_key)
      .query({ since: '2026-03-01T00:00:00Z', until: '2026-03-02T00:00:00Z', bucket: 'hour' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      total: 5,
      by_type: [
        { event_type: 'total', count: 3 },
        { event_type: 'login', count: 2 },
      ],
      by_time: [
        { bucket_start: '2026-03-01T10:00:00.000Z', count: 3 },
        { bucket_start: '2026-03-01T11:00:00.000Z', count: 2 },
      ],
    });
    const bad = await request(t.url)
      .get('/api/v1/events/stats')
      .set('X-API-Key', tenant.api_key)
      .query({ bucket: 'week' });
    expect(bad.status).toBe(400);
    const other = await request(t.url)
      .get('/api/v1/events/stats')
      .set('X-API-Key', b.api_key)
      .query({ since: '2026-03-01T00:00:00Z', until: '2026-03-02T00:00:00Z' });
    expect(other.body.total).toBe(0);
  });
});

function nest(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let i = 1; i < depth; i++) value = { n: value };
  return value;
}
