import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import amqplib from 'amqplib';
import { Client } from 'pg';
import { platformMigrations } from '../../migrations/platform';
import { tenantMigrations } from '../../migrations/tenant';
import { allQueues, DEFAULT_QUEUE, queueNames } from '../../src/modules/messaging/queue-topology';
import { runMigrations } from '../../src/shared/database/migrator';
import { messagingConfig } from '../../src/config';
import { applyTestEnv, SUITE_RETRY_DELAYS_MS, testWorkers, workerNamespace } from './env';

const run = promisify(execFile);

/**
 * Once per test run: the same platform migrations production runs, then an empty registry, so
 * that runs do not pile tenants up (each test file makes its own; none reads another's).
 */
export default async function globalSetup(): Promise<void> {
  applyTestEnv();
  if (testWorkers() > 0) return prepareWorkers(testWorkers());
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

async function asOwner<T>(url: string, work: (db: Client) => Promise<T>): Promise<T> {
  const db = new Client({ connectionString: url });
  await db.connect();
  try {
    return await work(db);
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

/**
 * A parallel run: each worker gets fresh platform and tenant databases, made from template
 * databases migrated once (a copy takes a fraction of a second; migrating takes seconds), and a
 * fresh RabbitMQ vhost (deleting the vhost deletes the last run's queues with it).
 */
async function prepareWorkers(workers: number): Promise<void> {
  const platformTemplate = withDatabase(process.env.DATABASE_MIGRATION_URL!, (db) => `${db}_tpl`);
  const tenantTemplate = `${process.env.TENANT_DATABASE_NAME}_tpl`;
  await ensureDatabase(databaseOf(platformTemplate));
  await ensureDatabase(tenantTemplate);
  await runMigrations(platformTemplate, platformMigrations);
  await runMigrations(
    withDatabase(process.env.DATABASE_MIGRATION_URL!, () => tenantTemplate),
    tenantMigrations,
    { tableName: 'tenant_migrations' },
  );
  const namespaces = Array.from({ length: workers }, (_, i) => workerNamespace(String(i + 1)));
  await asOwner(process.env.DATABASE_MIGRATION_URL!, async (db) => {
    for (const ns of namespaces) {
      for (const [name, template] of [
        [databaseOf(ns.databaseMigrationUrl), databaseOf(platformTemplate)],
        [ns.tenantDatabaseName, tenantTemplate],
      ]) {
        await db.query(`drop database if exists ${ident(name)} with (force)`);
        await db.query(`create database ${ident(name)} template ${ident(template)}`);
        // CONNECT is a database privilege: a copy does not inherit the template's.
        await db.query(`grant connect on database ${ident(name)} to tessera_app`);
      }
    }
  });
  await Promise.all(namespaces.map((ns) => recreateVhost(ns.vhost)));
}

/** Creates an empty database owned by the owner role, with the runtime role's privileges. */
async function ensureDatabase(name: string): Promise<void> {
  const created = await asOwner(process.env.DATABASE_MIGRATION_URL!, async (db) => {
    const { rowCount } = await db.query('select 1 from pg_database where datname = $1', [name]);
    if (rowCount) return false;
    await db.query(`create database ${ident(name)}`);
    await db.query(`grant connect on database ${ident(name)} to tessera_app`);
    return true;
  });
  if (!created) return;
  await asOwner(
    withDatabase(process.env.DATABASE_MIGRATION_URL!, () => name),
    async (db) => {
      await db.query('revoke create on schema public from public');
      await db.query('grant usage on schema public to tessera_app');
      await db.query(
        'alter default privileges in schema public grant select, insert, update, delete on tables to tessera_app',
      );
      await db.query(
        'alter default privileges in schema public grant usage, select on sequences to tessera_app',
      );
    },
  );
}

async function recreateVhost(vhost: string): Promise<void> {
  const ctl = (...args: string[]) => run('rabbitmqctl', ['-q', ...args], { timeout: 60_000 });
  await ctl('delete_vhost', vhost).catch(() => undefined); // absent on the first run
  await ctl('add_vhost', vhost);
  await ctl('set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*');
}

function withDatabase(url: string, name: (current: string) => string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name(parsed.pathname.slice(1))}`;
  return parsed.toString();
}

function databaseOf(url: string): string {
  return new URL(url).pathname.slice(1);
}

function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
