import amqplib from 'amqplib';
import { Client } from 'pg';
import { platformMigrations } from '../../migrations/platform';
import { allQueues, DEFAULT_QUEUE, queueNames } from '../../src/modules/messaging/queue-topology';
import { runMigrations } from '../../src/shared/database/migrator';
import { messagingConfig } from '../../src/config';
import { applyTestEnv, SUITE_RETRY_DELAYS_MS } from './env';

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
    // The broker keeps what the registry forgets: the last run's tenant queues go with it, or
    // quorum queues pile up run after run (each holds files open; the broker runs out).
    const { rows: queues } = await db.query<{ tenant_id: string; queue_name: string }>(
      `select id as tenant_id, $1::text as queue_name from tenants
       union select tenant_id, queue_name from messaging_queues`,
      [DEFAULT_QUEUE],
    );
    await deleteTenantQueues(queues);
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

/** Retry delays the suites use (the configured ones and the suites' own): each has its delay queue. */
function testRetryDelays(): number[] {
  const configured = messagingConfig().retryDelaysMs;
  const suites = SUITE_RETRY_DELAYS_MS.split(',').map(Number);
  return [...new Set([...configured, ...suites])];
}

async function deleteTenantQueues(
  queues: Array<{ tenant_id: string; queue_name: string }>,
): Promise<void> {
  if (!queues.length) return;
  const delays = testRetryDelays();
  const names = queues.flatMap((q) => allQueues(queueNames(q.tenant_id, q.queue_name, delays)));
  const connection = await amqplib.connect(
    process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
  );
  try {
    // A few channels side by side: deleting a quorum queue takes a while.
    const lanes = 4;
    await Promise.all(
      Array.from({ length: lanes }, async (_, lane) => {
        const channel = await connection.createChannel();
        for (let i = lane; i < names.length; i += lanes) await channel.deleteQueue(names[i]);
        await channel.close();
      }),
    );
  } finally {
    await connection.close();
  }
}
