import { Client } from 'pg';
import { platformMigrations } from '../../migrations/platform';
import { runMigrations } from '../../src/shared/database/migrator';
import { applyTestEnv } from './env';

/**
 * Once per test run: the same platform migrations production runs, then an empty registry, so
 * that runs do not pile tenants up (each test file makes its own; none reads another's).
 */
export default async function globalSetup(): Promise<void> {
  applyTestEnv();
  await runMigrations(process.env.DATABASE_MIGRATION_URL!, platformMigrations);
  // Several suites run side by side while developing: TESSERA_TEST_KEEP_DATA=1 leaves theirs alone.
  if (process.env.TESSERA_TEST_KEEP_DATA === '1') return;
  await asOwner(process.env.DATABASE_MIGRATION_URL!, async (db) => {
    await db.query(
      'truncate table tenant_api_keys, tenant_users, platform_admins, tenants cascade',
    );
  });
  // The default tenant cluster's test database: empty every tenant table (the schema stays).
  const tenantDb = new URL(process.env.DATABASE_MIGRATION_URL!);
  tenantDb.pathname = `/${process.env.TENANT_DATABASE_NAME}`;
  await asOwner(tenantDb.toString(), async (db) => {
    const { rows } = await db.query<{ table_name: string }>(
      `select table_name from information_schema.columns
        where table_schema = 'public' and column_name = 'tenant_id'`,
    );
    if (rows.length > 0) {
      await db.query(`truncate table ${rows.map((r) => `"${r.table_name}"`).join(', ')} cascade`);
    }
  });
}

async function asOwner(url: string, work: (db: Client) => Promise<void>): Promise<void> {
  const db = new Client({ connectionString: url });
  await db.connect();
  try {
    await work(db);
  } finally {
    await db.end();
  }
}
