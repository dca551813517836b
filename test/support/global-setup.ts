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
    // Per-tenant partitions (messages) go one by one: a single TRUNCATE over thousands of them
    // needs a lock each and runs out of the lock table ("out of shared memory").
    const { rows: partitions } = await db.query<{ name: string }>(
      `select c.relname as name from pg_inherits i
         join pg_class c on c.oid = i.inhrelid
         join pg_class p on p.oid = i.inhparent
        where p.relkind = 'p' and p.relnamespace = 'public'::regnamespace`,
    );
    for (const { name } of partitions) {
      await db.query(`drop table if exists "${name.replace(/"/g, '""')}"`);
    }
    const { rows } = await db.query<{ table_name: string }>(
      `select c.relname as table_name from pg_class c
         join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
        where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
          and not c.relispartition`,
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
