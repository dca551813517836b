import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import request from 'supertest';
import { createTestApp, type TestApp } from '../support/app';
import { createTenant, type Identity, platformAdmin, tenantMember } from '../support/identities';

type Tenant = { id: string; api_key: string };
type Row = { id?: string; event_id?: string; user_id?: string; tenant_id?: string };
type PageBody = { data: Row[]; next_cursor: string | null };

/** One cursor-paged route, as a tenant calls it within one scope (a filter of its own). */
interface Route {
  name: string;
  /** The page at `cursor` as `tenant` sees it. */
  page(tenant: Tenant, scope: Scope, limit: number, cursor?: string): Promise<PageBody>;
  /** The row's id as the route answers it. */
  idOf(row: Row): string;
  /** A new scope of `tenant` (an event type, a queue, a user, a session…). */
  scope(tenant: Tenant): Promise<Scope>;
  /** Rows in the scope, `count` of them sharing the instant `at` (where the route allows). */
  insert(tenant: Tenant, scope: Scope, count: number, at: string): Promise<void>;
  /** The scope's ids in the route's order, read in SQL (the specification of the order). */
  expected(tenant: Tenant, scope: Scope): Promise<string[]>;
  /** Rows at any instant PostgreSQL holds, in SQL (where `insert` goes through the API). */
  insertSql?: Route['insert'];
  /** False for a platform-wide list (no other tenant to leak to). */
  tenantScoped: boolean;
}
type Scope = { key: string; order?: 'asc' | 'desc' };

const OWNER = { user: 'tessera_owner', password: 'tessera_owner', host: '127.0.0.1', port: 5432 };
const SEED = 1616;

/** SQL in the tenant database as its owner, inside the tenant's row-level security. */
async function tenantSql<T = Record<string, unknown>>(
  tenantId: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new Client({ ...OWNER, database: process.env.TENANT_DATABASE_NAME });
  await client.connect();
  try {
    await client.query('begin');
    await client.query(`select set_config('app.tenant_id', $1, true)`, [tenantId]);
    const { rows } = await client.query(sql, params);
    await client.query('commit');
    return rows as T[];
  } finally {
    await client.end();
  }
}

/** SQL in the platform database as its owner (tenants, memberships, the retry ledger). */
async function platformSql<T = Record<string, unknown>>(
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new Client({ connectionString: process.env.DATABASE_MIGRATION_URL });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

/**
 * Instants that tie: a few distinct microseconds inside one millisecond of a second of its own
 * per run (rows cut to the millisecond all tie; rows at one microsecond tie in full).
 */
const runSecond = (() => {
  let n = 0;
  const base = Date.UTC(2026, 0, 1) + Math.floor(Math.random() * 1e6) * 1000;
  return () => base + 1000 * n++;
})();
const instant = (second: number, micros: number) =>
  new Date(second).toISOString().replace(/\.\d{3}Z$/, `.123${String(micros).padStart(3, '0')}Z`);

describe('Paging: every cursor-paged list answers each row once, in order, under ties and concurrent inserts', () => {
  let t: TestApp;
  let admin: Identity;
  let a: Tenant;
  let b: Tenant;
  const owners = new Map<string, Identity>();

  const http = (path: string, who: { bearer?: string; key?: string }, query: object) => {
    const req = request(t.url).get(path).query(query);
    return who.key ? req.set('X-API-Key', who.key) : req.set('Authorization', who.bearer!);
  };
  const ok = async (res: Promise<request.Response>): Promise<PageBody> => {
    const answer = await res;
    if (answer.status !== 200)
      throw new Error(`answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    return answer.body as PageBody;
  };
  const owner = (tenant: Tenant) => owners.get(tenant.id)!;
  const q = (limit: number, cursor?: string, extra: object = {}) => ({
    limit,
    ...(cursor ? { cursor } : {}),
    ...extra,
  });

  const routes: Route[] = [
    {
      name: 'GET /api/v1/events',
      tenantScoped: true,
      idOf: (row) => row.id!,
      scope: () => Promise.resolve({ key: `paging.${randomBytes(4).toString('hex')}` }),
      page: (tenant, scope, limit, cursor) =>
        ok(
          http(
            '/api/v1/events',
            { key: tenant.api_key },
            q(limit, cursor, { event_type: scope.key }),
          ),
        ),
      // One batch: events without a timestamp share the transaction's instant; the others share
      // `at` (concurrent ones then land among the rows still to be paged).
      insert: async (tenant, scope, count, at) => {
        const events = Array.from({ length: count }, (_, i) =>
          i < Math.ceil(count / 2)
            ? { event_type: scope.key }
            : { event_type: scope.key, timestamp: at },
        );
        const res = await request(t.url)
          .post('/api/v1/events/batch')
          .set('X-API-Key', tenant.api_key)
          .send({ events });
        if (res.status !== 201)
          throw new Error(`batch answered ${res.status}: ${JSON.stringify(res.body)}`);
      },
      // As ingestion does: seqs taken from the tenant's counter row.
      insertSql: (tenant, scope, count, at) =>
        tenantSql(
          tenant.id,
          `with head as (
             insert into event_seqs (tenant_id, seq) values ($1, $3)
             on conflict (tenant_id) do update set seq = event_seqs.seq + excluded.seq returning seq)
           insert into events (tenant_id, seq, event_type, source, timestamp)
           select $1, head.seq - $3 + g, $2, 'paging', $4::timestamptz from head, generate_series(1, $3) g`,
          [tenant.id, scope.key, count, at],
        ).then(() => undefined),
      expected: async (tenant, scope) =>
        (
          await tenantSql<{ id: string }>(
            tenant.id,
            `select id from events where tenant_id = $1 and event_type = $2 order by timestamp desc, seq desc`,
            [tenant.id, scope.key],
          )
        ).map((r) => r.id),
    },
    {
      name: 'GET /api/v1/messages',
      tenantScoped: true,
      idOf: (row) => row.id!,
      scope: () => Promise.resolve({ key: `paging-${randomBytes(4).toString('hex')}` }),
      page: (tenant, scope, limit, cursor) =>
        ok(
          http(
            '/api/v1/messages',
            { key: tenant.api_key },
            q(limit, cursor, { queue_name: scope.key }),
          ),
        ),
      insert: (tenant, scope, count, at) =>
        tenantSql(
          tenant.id,
          `insert into messages (tenant_id, queue_name, payload, status, created_at, processed_at)
           select $1, $2, '{}'::jsonb, 'processed', $3::timestamptz, $3::timestamptz from generate_series(1, $4)`,
          [tenant.id, scope.key, at, count],
        ).then(() => undefined),
      expected: async (tenant, scope) =>
        (
          await tenantSql<{ id: string }>(
            tenant.id,
            `select id from messages where tenant_id = $1 and queue_name = $2 order by created_at desc, id desc`,
            [tenant.id, scope.key],
          )
        ).map((r) => r.id),
    },
    {
      name: 'GET /api/v1/location/sessions',
      tenantScoped: true,
      idOf: (row) => row.id!,
      scope: () => Promise.resolve({ key: `paging-user-${randomBytes(4).toString('hex')}` }),
      page: (tenant, scope, limit, cursor) =>
        ok(
          http(
            '/api/v1/location/sessions',
            owner(tenant),
            q(limit, cursor, { user_id: scope.key }),
          ),
        ),
      insert: (tenant, scope, count, at) =>
        tenantSql(
          tenant.id,
          `insert into location_sessions (tenant_id, user_id, status, started_at, expires_at, ended_at, duration_seconds)
           select $1, $2, 'ended', $3::timestamptz, $3::timestamptz + interval '1 hour', $3::timestamptz, 3600
             from generate_series(1, $4)`,
          [tenant.id, scope.key, at, count],
        ).then(() => undefined),
      expected: async (tenant, scope) =>
        (
          await tenantSql<{ id: string }>(
            tenant.id,
            `select id from location_sessions where user_id = $1 order by started_at desc, id desc`,
            [scope.key],
          )
        ).map((r) => r.id),
    },
    {
      name: 'GET /api/v1/location/session/:id/locations',
      tenantScoped: true,
      idOf: (row) => row.event_id!,
      scope: async (tenant) => {
        const [session] = await tenantSql<{ id: string }>(
          tenant.id,
          `insert into location_sessions (tenant_id, user_id, status, started_at, expires_at, ended_at, duration_seconds)
           values ($1, 'paging-walker', 'ended', now(), now(), now(), 0) returning id`,
          [tenant.id],
        );
        return { key: session.id, order: Math.random() < 0.5 ? 'asc' : 'desc' };
      },
      page: (tenant, scope, limit, cursor) =>
        ok(
          http(
            `/api/v1/location/session/${scope.key}/locations`,
            owner(tenant),
            q(limit, cursor, { order: scope.order }),
          ),
        ),
      insert: (tenant, scope, count, at) =>
        tenantSql(
          tenant.id,
          `insert into locations (event_id, tenant_id, session_id, user_id, latitude, longitude, recorded_at)
           select gen_random_uuid(), $1, $2, 'paging-walker', 1, 2, $3::timestamptz from generate_series(1, $4)`,
          [tenant.id, scope.key, at, count],
        ).then(() => undefined),
      expected: async (tenant, scope) => {
        const dir = scope.order === 'desc' ? 'desc' : 'asc';
        return (
          await tenantSql<{ event_id: string }>(
            tenant.id,
            `select event_id from locations where session_id = $1 order by recorded_at ${dir}, event_id ${dir}`,
            [scope.key],
          )
        ).map((r) => r.event_id);
      },
    },
    {
      name: 'GET /api/v1/retry/failed',
      tenantScoped: true,
      idOf: (row) => row.id!,
      // The tenant's resolved rows (nothing retries them); the scope is the whole tenant.
      scope: () => Promise.resolve({ key: 'resolved' }),
      page: (tenant, _scope, limit, cursor) =>
        ok(http('/api/v1/retry/failed', owner(tenant), q(limit, cursor, { status: 'resolved' }))),
      insert: (tenant, _scope, count, at) =>
        platformSql(
          `insert into failed_location_updates
             (tenant_id, event_id, session_id, user_id, latitude, longitude, recorded_at, payload,
              status, created_at, updated_at, resolved_at)
           select $1, gen_random_uuid(), gen_random_uuid(), 'paging-walker', 1, 2, $2::timestamptz,
                  '{}'::jsonb, 'resolved', $2::timestamptz, $2::timestamptz, $2::timestamptz
             from generate_series(1, $3)`,
          [tenant.id, at, count],
        ).then(() => undefined),
      expected: async (tenant) =>
        (
          await platformSql<{ id: string }>(
            `select id from failed_location_updates where tenant_id = $1 and status = 'resolved'
              order by created_at desc, id desc`,
            [tenant.id],
          )
        ).map((r) => r.id),
    },
    {
      name: 'GET /api/v1/tenants/:id/users',
      tenantScoped: true,
      idOf: (row) => row.user_id!,
      scope: () => Promise.resolve({ key: 'members' }),
      page: (tenant, _scope, limit, cursor) =>
        ok(http(`/api/v1/tenants/${tenant.id}/users`, owner(tenant), q(limit, cursor))),
      insert: (tenant, _scope, count, at) =>
        platformSql(
          `insert into tenant_users (tenant_id, user_id, email, role, created_at, updated_at)
           select $1, u::text, 'paging-' || u || '@test.tessera.dev', 'user', $2::timestamptz, $2::timestamptz
             from (select gen_random_uuid() as u from generate_series(1, $3)) s`,
          [tenant.id, at, count],
        ).then(() => undefined),
      expected: async (tenant) =>
        (
          await platformSql<{ user_id: string }>(
            `select user_id from tenant_users where tenant_id = $1 order by created_at, user_id`,
            [tenant.id],
          )
        ).map((r) => r.user_id),
    },
    {
      name: 'GET /api/v1/tenant/audit',
      tenantScoped: true,
      idOf: (row) => row.id!,
      scope: () => Promise.resolve({ key: `paging-actor-${randomBytes(4).toString('hex')}` }),
      page: (tenant, scope, limit, cursor) =>
        ok(http('/api/v1/tenant/audit', owner(tenant), q(limit, cursor, { actor: scope.key }))),
      insert: (tenant, scope, count, at) =>
        tenantSql(
          tenant.id,
          `insert into tenant_audit_events (tenant_id, action, actor, created_at)
           select $1, 'api_key.created', $2, $3::timestamptz from generate_series(1, $4)`,
          [tenant.id, scope.key, at, count],
        ).then(() => undefined),
      expected: async (tenant, scope) =>
        (
          await tenantSql<{ id: string }>(
            tenant.id,
            `select id from tenant_audit_events where tenant_id = $1 and actor = $2
              order by created_at desc, id desc`,
            [tenant.id, scope.key],
          )
        ).map((r) => r.id),
    },
    {
      name: 'GET /api/v1/tenants',
      tenantScoped: false,
      idOf: (row) => row.id!,
      // Deleted tenants: rows no machinery acts on, listed with ?status=deleted.
      scope: () => Promise.resolve({ key: 'deleted' }),
      page: (_tenant, _scope, limit, cursor) =>
        ok(http('/api/v1/tenants', admin, q(limit, cursor, { status: 'deleted' }))),
      insert: (_tenant, _scope, count, at) =>
        platformSql(
          `insert into tenants (name, status, created_at, updated_at, deleted_at)
           select 'paging-' || gen_random_uuid(), 'deleted', $1::timestamptz, $1::timestamptz, $1::timestamptz
             from generate_series(1, $2)`,
          [at, count],
        ).then(() => undefined),
      expected: async () =>
        (
          await platformSql<{ id: string }>(
            `select id from tenants where status = 'deleted' order by created_at desc, id desc`,
          )
        ).map((r) => r.id),
    },
  ];

  beforeAll(async () => {
    t = await createTestApp();
    admin = await platformAdmin(t);
    a = await createTenant(t, admin);
    b = await createTenant(t, admin);
    owners.set(a.id, await tenantMember(t, a.id, 'tenant_owner'));
    owners.set(b.id, await tenantMember(t, b.id, 'tenant_owner'));
  });
  afterAll(() => t.close());

  /** Pages through the scope, inserting `during` rows at tied instants beside each request. */
  async function walk(
    route: Route,
    tenant: Tenant,
    scope: Scope,
    limit: number,
    during: () => Promise<void>,
  ): Promise<string[]> {
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 500; pages++) {
      const [body] = await Promise.all([route.page(tenant, scope, limit, cursor), during()]);
      expect(body.data.length).toBeLessThanOrEqual(limit);
      seen.push(...body.data.map(route.idOf));
      if (!body.next_cursor) return seen;
      cursor = body.next_cursor;
    }
    throw new Error(`${route.name}: still paging after 500 pages`);
  }

  it.each(routes.map((route) => [route.name, route] as const))(
    '%s: each row present before the first page is seen exactly once, in order',
    async (_name, route) => {
      const runs: string[] = [];
      await fc.assert(
        fc.asyncProperty(
          fc.record({
            // Rows per tied instant, and the microsecond (within one millisecond) of each.
            groups: fc.array(
              fc.record({
                rows: fc.integer({ min: 1, max: 6 }),
                micros: fc.integer({ min: 0, max: 3 }),
              }),
              { minLength: 1, maxLength: 4 },
            ),
            limit: fc.integer({ min: 1, max: 5 }),
            concurrent: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 4 }),
          }),
          async ({ groups, limit, concurrent }) => {
            const scope = await route.scope(a);
            const second = runSecond();
            for (const group of groups)
              await route.insert(a, scope, group.rows, instant(second, group.micros * 250));
            const before = await route.expected(a, scope);
            let tick = 0;
            const during = async () => {
              const count = concurrent[tick++ % concurrent.length];
              if (count > 0) await route.insert(a, scope, count, instant(second, (tick % 4) * 250));
            };
            const seen = await walk(route, a, scope, limit, during);
            const present = new Set(before);
            const after = new Set(await route.expected(a, scope));
            runs.push(`${before.length} rows/limit ${limit}: ${seen.length} seen`);
            // Nothing twice, nothing from outside the scope, and the rows present before in order.
            expect(new Set(seen).size).toBe(seen.length);
            expect(seen.filter((id) => !after.has(id))).toEqual([]);
            expect(seen.filter((id) => present.has(id))).toEqual(before);
          },
        ),
        { seed: SEED, numRuns: 6, endOnFailure: true },
      );
      console.log(`${route.name}: ${runs.join('; ')}`);
    },
  );

  it('reaches all 5 events of one batch in pages of 2 (they share one instant)', async () => {
    const events = routes[0];
    const scope = await events.scope(a);
    const res = await request(t.url)
      .post('/api/v1/events/batch')
      .set('X-API-Key', a.api_key)
      .send({ events: Array.from({ length: 5 }, () => ({ event_type: scope.key })) });
    expect(res.status).toBe(201);
    const stored = (res.body as { data: Array<{ id: string; timestamp: string }> }).data;
    expect(new Set(stored.map((e) => e.timestamp)).size).toBe(1);
    const seen = await walk(events, a, scope, 2, () => Promise.resolve());
    expect(seen).toEqual(await events.expected(a, scope));
    expect([...seen].sort()).toEqual(stored.map((e) => e.id).sort());
  });

  it.each(routes.filter((r) => r.tenantScoped).map((route) => [route.name, route] as const))(
    "%s: another tenant's cursor shows nothing of that tenant",
    async (_name, route) => {
      const [scopeA, scopeB] = [await route.scope(a), await route.scope(b)];
      const second = runSecond();
      await route.insert(a, scopeA, 4, instant(second, 0));
      await route.insert(b, scopeB, 4, instant(second, 0));
      const ofA = new Set(await route.expected(a, scopeA));
      const first = await route.page(a, scopeA, 1);
      expect(first.next_cursor).toEqual(expect.any(String));
      const asB = await route.page(b, scopeB, 5, first.next_cursor!);
      const ofB = new Set(await route.expected(b, scopeB));
      expect(asB.data.map(route.idOf).filter((id) => ofA.has(id) && !ofB.has(id))).toEqual([]);
      for (const row of asB.data) {
        if (row.tenant_id !== undefined) expect(row.tenant_id).toBe(b.id);
        expect(ofB.has(route.idOf(row))).toBe(true);
      }
    },
  );

  it('lists a session of its own tenant only: another tenant asking for it is a 404', async () => {
    const route = routes.find((r) => r.name.endsWith('/locations'))!;
    const scopeA = await route.scope(a);
    const res = await http(`/api/v1/location/session/${scopeA.key}/locations`, owner(b), q(5));
    expect(res.status).toBe(404);
  });

  // Instants at the edges of what a row may hold (year 10000 is what an offset west of UTC once
  // made of 9999-12-31): each row's next_cursor must be one the list takes back.
  const EDGES = [
    '0001-01-01T00:00:00.000001Z',
    '9999-12-31T23:59:59.999999Z',
    '10000-01-01T05:59:59.5Z',
  ];

  it.each(routes.map((route) => [route.name, route] as const))(
    '%s: pages past rows at the first and last instants with the cursors it issues',
    async (_name, route) => {
      const scope = await route.scope(a);
      for (const at of EDGES) await (route.insertSql ?? route.insert)(a, scope, 2, at);
      const expected = await route.expected(a, scope);
      const seen = await walk(route, a, scope, 1, () => Promise.resolve());
      expect(seen.filter((id) => expected.includes(id))).toEqual(expected);
      expect(seen).toHaveLength(expected.length);
    },
  );

  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const uuid = '0b6f5b8e-2f7c-4a51-9d8e-4d1f2f6b7a10';
  // Well-formed tuples PostgreSQL would refuse (each once a 500), in both cursor shapes.
  const FORGED = [
    ['year 0000', b64(['0000-01-01T00:00:00Z', uuid])],
    ['year 0000 with a seq', b64(['0000-01-01T00:00:00Z', '1'])],
    ['a bigint past PostgreSQL', b64(['2026-01-01T00:00:00Z', '9999999999999999999'])],
    ['30 February', b64(['2026-02-30T00:00:00.000001Z', uuid])],
    ['a year past timestamptz', b64(['300000-01-01T00:00:00Z', '1'])],
    ['a signed year', b64(['+010000-01-01T00:00:00.000Z', uuid])],
    ['an offset of +23:00', b64(['2026-01-01T00:00:00+23:00', uuid])],
    ['a lone surrogate', b64(['2026-01-01T00:00:00Z', '\ud800'])],
    ['a bare instant in year 0000', '0000-01-01T00:00:00Z'],
  ] as const;

  it('answers every forged cursor on every list with 400 COMMON.INVALID_CURSOR', async () => {
    const answers: string[] = [];
    for (const route of routes) {
      const scope = await route.scope(a);
      for (const [label, cursor] of FORGED) {
        let status = 0;
        let code: unknown;
        try {
          await route.page(a, scope, 2, cursor);
        } catch (error) {
          const m = /answered (\d+): (.*)$/s.exec((error as Error).message);
          status = Number(m?.[1]);
          code = m ? (JSON.parse(m[2]) as { code?: string }).code : undefined;
        }
        answers.push(`${route.name} ${label}: ${status}`);
        expect({ route: route.name, label, status, code }).toEqual({
          route: route.name,
          label,
          status: 400,
          code: 'COMMON.INVALID_CURSOR',
        });
      }
    }
    console.log(`forged cursors: ${answers.length} answers, all 400`);
  });
});
