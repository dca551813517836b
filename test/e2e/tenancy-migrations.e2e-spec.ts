import request from 'supertest';
import { tenancyConfig, type TenancyConfig } from '../../src/config';
import { TenantMigrationsRunner } from '../../src/modules/tenancy';
import { createTestApp, type TestApp } from '../support/app';
import {
  adminSql,
  asAdmin,
  putSecret,
  randomUUID,
  scratchDatabase,
  secretJson,
  secretsClient,
  uniqueName,
  withTestBearer,
  PLATFORM_DB,
  TENANT_DB,
} from '../support/tenancy';

describe('npm run migrate:tenants (TenantMigrationsRunner)', () => {
  let t: TestApp;
  const sm = secretsClient();
  const ghost = randomUUID();

  beforeAll(async () => {
    t = await createTestApp({ override: withTestBearer });
  });
  afterAll(async () => {
    await adminSql('delete from tenants where id = $1', [ghost], PLATFORM_DB);
    await t.close();
    sm.destroy();
  });

  it('migrates each tenant database once, restores a silo whose schema is gone, and reports unreadable secrets', async () => {
    const db = await scratchDatabase();
    try {
      const secretId = `tessera-test/silo/${randomUUID()}`;
      await putSecret(
        sm,
        secretId,
        secretJson({
          database: db.name,
          owner_username: 'tessera_owner',
          owner_password: 'tessera_owner',
        }),
      );
      const silo = await request(t.url)
        .post('/api/v1/tenants')
        .set('Authorization', asAdmin)
        .send({ name: uniqueName('migrate-silo'), database_secret_id: secretId });
      expect(silo.status).toBe(201);
      for (const name of [uniqueName('migrate-a'), uniqueName('migrate-b')]) {
        expect(
          (
            await request(t.url)
              .post('/api/v1/tenants')
              .set('Authorization', asAdmin)
              .send({ name })
          ).status,
        ).toBe(201);
      }
      // The silo loses its schema; a registry row has no secret at all.
      const tables = await adminSql<{ table_name: string }>(
        `select table_name from information_schema.tables where table_schema = 'public'`,
        [],
        db.name,
      );
      expect(tables.length).toBeGreaterThan(1);
      await adminSql(
        `drop table ${tables.map((row) => `"${row.table_name}"`).join(', ')} cascade`,
        [],
        db.name,
      );
      await adminSql(
        `insert into tenants (id, name, status) values ($1, $2, 'active')`,
        [ghost, uniqueName('ghost')],
        PLATFORM_DB,
      );

      const runner = t.app.get(TenantMigrationsRunner);
      const report = await runner.migrateAll();

      const siloEntry = report.databases.find((entry) => entry.database.endsWith(`/${db.name}`));
      expect(siloEntry?.tenants).toBe(1);
      expect(siloEntry?.error).toBeUndefined();
      expect(siloEntry?.applied.length).toBeGreaterThan(0);
      // The default cluster by its exact key: another suite's tenant may name the same database
      // under another host name (the TLS suite's `localhost`), which is a database of its own here.
      const { host, port } = t.app.get<TenancyConfig>(tenancyConfig.KEY).defaultCluster;
      const pooled = report.databases.find(
        (entry) => entry.database === `${host}:${port}/${TENANT_DB}`,
      );
      expect(pooled?.applied).toEqual([]);
      expect(pooled?.error).toBeUndefined();
      expect(pooled?.tenants).toBeGreaterThanOrEqual(2);
      expect(report.unresolved).toContainEqual({ tenant_id: ghost, error: expect.any(String) });

      const restored = await adminSql<{ relname: string }>(
        `select relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = 'public' and c.relkind = 'r' and c.relrowsecurity and c.relforcerowsecurity`,
        [],
        db.name,
      );
      expect(restored.length).toBeGreaterThan(0);
      const again = await runner.migrateAll();
      expect(
        again.databases.find((entry) => entry.database.endsWith(`/${db.name}`))?.applied,
      ).toEqual([]);
    } finally {
      await db.drop();
    }
  });
});
