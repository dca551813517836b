import { randomUUID } from 'node:crypto';
import request from 'supertest';
import type { EntityManager } from 'typeorm';
import { TenancyModule, TenantDatabase } from '../../src/modules/tenancy';
import { TenantPoolsService } from '../../src/modules/tenancy/database/tenant-pools.service';
import { TenantSecretsService } from '../../src/modules/tenancy/database/tenant-secrets.service';
import { createTestApp, type TestApp } from '../support/app';
import {
  unitOfWork,
  adminSql,
  asAdmin,
  asMember,
  putSecret,
  scratchRole,
  secretJson,
  secretsClient,
  sqlAs,
  tenantSecretName,
  uniqueName,
  withTestBearer,
  PLATFORM_DB,
  TENANT_DB,
} from '../support/tenancy';

describe('Tenancy: row-level security and shared pools', () => {
  let t: TestApp;
  const sm = secretsClient();
  const cleanups: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    t = await createTestApp({ extra: { imports: [TenancyModule] }, override: withTestBearer });
  });
  afterAll(async () => {
    await t.close();
    for (const cleanup of cleanups.reverse()) await cleanup();
    sm.destroy();
  });

  async function newTenant(label: string): Promise<string> {
    const res = await request(t.url)
      .post('/api/v1/tenants')
      .set('Authorization', asAdmin)
      .send({ name: uniqueName(label) });
    expect(res.status).toBe(201);
    return res.body.id as string;
  }

  /** Points a tenant's secret at `login` (its own pool identity) and forgets the cached one. */
  async function repoint(
    tenantId: string,
    login: { username: string; password: string },
    pool?: object,
  ): Promise<void> {
    await putSecret(sm, tenantSecretName(tenantId), secretJson({ ...login, pool }));
    t.app.get(TenantSecretsService).invalidate(tenantId);
  }

  const asTenant = <T>(tenantId: string, work: (m: EntityManager) => Promise<T>) =>
    unitOfWork(t, tenantId, work);

  it("shows a tenant only its own rows with no WHERE, and refuses a row carrying another tenant's id", async () => {
    const [a, b] = [await newTenant('rls-a'), await newTenant('rls-b')];
    await asTenant(a, (m) =>
      m.query(`insert into tenant_audit_events (action) values ('a.1'), ('a.2')`),
    );
    await asTenant(b, (m) => m.query(`insert into tenant_audit_events (action) values ('b.1')`));

    const seenByA = await asTenant(a, (m) =>
      m.query<Array<{ tenant_id: string }>>('select tenant_id from tenant_audit_events'),
    );
    expect(seenByA.length).toBe(3); // tenant.provisioned + a.1 + a.2
    expect(new Set(seenByA.map((r) => r.tenant_id))).toEqual(new Set([a]));

    await expect(
      asTenant(a, (m) =>
        m.query(`insert into tenant_audit_events (tenant_id, action) values ($1, 'forged')`, [b]),
      ),
    ).rejects.toThrow(/row-level security/);
    await expect(
      asTenant(a, (m) => m.query(`update tenant_audit_events set tenant_id = $1`, [b])),
    ).rejects.toThrow(/row-level security/);
    const forged = await adminSql(
      `select 1 from tenant_audit_events where action = 'forged'`,
      [],
      TENANT_DB,
    );
    expect(forged).toHaveLength(0);

    // The HTTP view agrees: B's stats count only B's rows.
    const stats = await request(t.url)
      .get('/api/v1/tenant/stats')
      .set('Authorization', asMember(b, 'user'));
    expect(stats.body.tables.tenant_audit_events).toBe(2);
  });

  it('gives the runtime role nothing without a tenant, or with an empty one', async () => {
    const login = { user: 'tessera_app', password: 'tessera_app', database: TENANT_DB };
    expect(await sqlAs(login, 'select * from tenant_audit_events')).toHaveLength(0);
    const empty = await sqlAs(
      login,
      `select set_config('app.tenant_id', '', false); select * from tenant_audit_events`,
    );
    expect(empty).toHaveLength(0);
    await expect(
      sqlAs(
        login,
        `insert into tenant_audit_events (tenant_id, action) values (gen_random_uuid(), 'x')`,
      ),
    ).rejects.toThrow(/row-level security/);
  });

  it('statementFor: a statement that sets no tenant reaches nothing; a tenant function acts for its tenant only, and the setting ends with the statement', async () => {
    const db = t.app.get(TenantDatabase);
    const [a, b] = [await newTenant('stmt-a'), await newTenant('stmt-b')];
    // Tenant A's rows exist…
    await asTenant(a, (m) => m.query(`insert into tenant_audit_events (action) values ('a.1')`));
    // …but a plain statement (no set_config) sees none of them, and cannot write any.
    expect(await db.statementFor(a, 'select * from tenant_audit_events', [])).toHaveLength(0);
    await expect(
      db.statementFor(a, `insert into tenant_audit_events (action) values ('x')`, []),
    ).rejects.toThrow(/row-level security|null value/);

    // messaging_store sets A for its own statement: A's row, invisible to B. (This app has no
    // messaging module to make the partitions at provisioning.)
    for (const tenant of [a, b])
      await asTenant(tenant, (m) => m.query(`select messaging_ensure_partition($1)`, [tenant]));
    const id = randomUUID();
    const stored = await db.statementFor<{ id: string; tenant_id: string }>(
      a,
      `select id, tenant_id from messaging_store($1, $2::uuid[], $3::text[], $4::text[], $5::text[])`,
      [a, [id], ['default'], ['{"n":1}'], [null]],
    );
    expect(stored).toEqual([{ id, tenant_id: a }]);
    // The setting did not outlive the statement (the same pool serves the next one).
    const after = await db.statementFor<{ setting: string | null }>(
      a,
      `select nullif(current_setting('app.tenant_id', true), '') as setting`,
      [],
    );
    expect(after).toEqual([{ setting: null }]);
    const seenByB = await asTenant(b, (m) => m.query(`select 1 from messages where id = $1`, [id]));
    expect(seenByB).toHaveLength(0);
    // A function told tenant B cannot claim A's message.
    const claimedByB = await db.statementFor(
      b,
      `select * from messaging_claim($1, $2::uuid[], $3::text[], true)`,
      [b, [id], ['default']],
    );
    expect(claimedByB).toHaveLength(0);
    const [row] = await asTenant(a, (m) =>
      m.query<Array<{ status: string }>>(`select status from messages where id = $1`, [id]),
    );
    expect(row.status).toBe('queued');
  });

  it('leaks nothing through a pool of one connection: 20 tenants, 2,000 interleaved units', async () => {
    const role = await scratchRole();
    cleanups.push(role.drop);
    const tenants: string[] = [];
    for (let i = 0; i < 20; i += 1) tenants.push(await newTenant('leak'));
    for (const id of tenants) await repoint(id, role, { max: 1 });

    const pools = t.app.get(TenantPoolsService);
    const secret = await t.app.get(TenantSecretsService).resolve(tenants[0]);
    const foreign: string[] = [];
    const leftovers: unknown[] = [];
    const inserted = new Map<string, number>();

    const unit = async (k: number) => {
      const id = tenants[k % tenants.length];
      const rows = await asTenant(id, async (m) => {
        await m.query(
          `insert into tenant_audit_events (action, details) values ('leak.probe', $1)`,
          [JSON.stringify({ k })],
        );
        return m.query<Array<{ tenant_id: string }>>('select tenant_id from tenant_audit_events');
      });
      inserted.set(id, (inserted.get(id) ?? 0) + 1);
      for (const row of rows) if (row.tenant_id !== id) foreign.push(`${id} saw ${row.tenant_id}`);
      // The only connection, between units: it must carry no tenant.
      const [left] = await pools.withDataSource(secret, (ds) =>
        ds.query<Array<{ tenant: string | null }>>(
          `select current_setting('app.tenant_id', true) as tenant`,
        ),
      );
      if (left.tenant) leftovers.push(left.tenant);
    };
    for (let batch = 0; batch < 2_000; batch += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, i) => unit(batch + i)));
    }

    expect(foreign).toEqual([]);
    expect(leftovers).toEqual([]);
    expect(pools.statsFor(secret)).toMatchObject({ max: 1, user: role.username });
    const counts = await adminSql<{ tenant_id: string; n: string }>(
      `select tenant_id, count(*) as n from tenant_audit_events where action = 'leak.probe' and tenant_id = any($1) group by tenant_id`,
      [tenants],
      TENANT_DB,
    );
    expect(Object.fromEntries(counts.map((c) => [c.tenant_id, Number(c.n)]))).toEqual(
      Object.fromEntries([...inserted].map(([id, n]) => [id, n])),
    );
    const [backends] = await adminSql<{ n: string }>(
      'select count(*) as n from pg_stat_activity where usename = $1',
      [role.username],
    );
    expect(Number(backends.n)).toBeLessThanOrEqual(1);
  });

  it('audits the schema: the runtime role is plain, owns nothing, and every tenant table forces RLS with USING and WITH CHECK', async () => {
    const [runtime] = await adminSql<{ rolsuper: boolean; rolbypassrls: boolean }>(
      `select rolsuper, rolbypassrls from pg_roles where rolname = 'tessera_app'`,
    );
    expect(runtime).toEqual({ rolsuper: false, rolbypassrls: false });
    const privileged = await adminSql(
      `select r.rolname from pg_roles r
        where (r.rolsuper or r.rolbypassrls) and pg_has_role('tessera_app', r.oid, 'member')`,
    );
    expect(privileged).toEqual([]);

    for (const database of [TENANT_DB, PLATFORM_DB]) {
      const owned = await adminSql(
        `select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where c.relowner = 'tessera_app'::regrole and n.nspname not in ('pg_catalog', 'information_schema')`,
        [],
        database,
      );
      expect({ database, owned }).toEqual({ database, owned: [] });
    }

    const tables = await adminSql<{
      relname: string;
      relrowsecurity: boolean;
      relforcerowsecurity: boolean;
      policies: Array<{
        name: string;
        qual: string | null;
        with_check: string | null;
        cmd: string;
      }> | null;
    }>(
      `select c.relname, c.relrowsecurity, c.relforcerowsecurity,
              (select json_agg(json_build_object('name', p.policyname, 'qual', p.qual, 'with_check', p.with_check, 'cmd', p.cmd))
                 from pg_policies p where p.schemaname = n.nspname and p.tablename = c.relname) as policies
         from pg_class c
         join pg_namespace n on n.oid = c.relnamespace
         join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
        where n.nspname = 'public' and c.relkind in ('r', 'p')`,
      [],
      TENANT_DB,
    );
    expect(tables.map((x) => x.relname)).toContain('tenant_audit_events');
    for (const table of tables) {
      expect({
        table: table.relname,
        enabled: table.relrowsecurity,
        forced: table.relforcerowsecurity,
      }).toEqual({
        table: table.relname,
        enabled: true,
        forced: true,
      });
      const policies = table.policies ?? [];
      expect({ table: table.relname, policies: policies.length > 0 }).toEqual({
        table: table.relname,
        policies: true,
      });
      // The one documented exception: the location expiry sweep (docs/location.md) may see only
      // active sessions past expires_at and may only mark them expired, in a transaction that
      // opted in. Every other policy is the tenant's.
      const sweep = policies.filter((policy) => /^location_sweep_/.test(policy.name));
      for (const policy of sweep) {
        expect(table.relname).toBe('location_sessions');
        expect(policy.qual).toMatch(/app\.location_sweep/);
        expect(policy.qual).toMatch(/expires_at <= now\(\)/);
        if (policy.cmd === 'UPDATE') expect(policy.with_check).toMatch(/'expired'::text/);
        else expect(policy.cmd).toBe('SELECT');
      }
      for (const policy of policies.filter((p) => !sweep.includes(p))) {
        expect(policy.qual).toMatch(/current_setting\('app\.tenant_id'::text, true\)/);
        expect(policy.with_check ?? (policy.cmd === 'SELECT' ? policy.qual : null)).toMatch(
          /app\.tenant_id/,
        );
      }
    }
  });
});
