import 'reflect-metadata';
import { CreateSecretCommand, DeleteSecretCommand } from '@aws-sdk/client-secrets-manager';
import { NestFactory } from '@nestjs/core';
import { getDataSourceToken } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { platformMigrations } from '../migrations/platform';
import { TenancyStandaloneModule } from '../src/cli/tenancy-standalone.module';
import { databaseConfig, loadLocalEnv, tenancyConfig } from '../src/config';
import { TenantDatabase } from '../src/modules/tenancy';
import { TenantPoolsService } from '../src/modules/tenancy/database/tenant-pools.service';
import { TenantSecretsService } from '../src/modules/tenancy/database/tenant-secrets.service';
import { AwsClients } from '../src/shared/aws';
import { runMigrations } from '../src/shared/database';
import { WorkMeter } from './bench-support';

/**
 * `npm run bench:tenancy` (after `npm run build`, services up): 1,000 pooled tenants (registry rows
 * and secrets of their own, all pointing at the default tenant cluster), then
 *  - cold resolution: each tenant's first secret lookup (registry row + GetSecretValue);
 *  - cached resolution: 20 lookups per tenant from the TTL cache;
 *  - mixed load: units of work (insert + select under RLS) over random tenants at a fixed
 *    concurrency, sampling the PostgreSQL connections the tenant pools hold.
 * The bench tenants are marked deleted and their secrets removed at the end.
 */
const TENANTS = Number(process.env.BENCH_TENANTS ?? 1_000);
const UNITS = Number(process.env.BENCH_UNITS ?? 10_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);

function quantiles(samples: number[]): { p50: number; p99: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  return { p50: at(0.5), p99: at(0.99) };
}

async function inBatches<T>(
  items: T[],
  size: number,
  work: (item: T) => Promise<unknown>,
): Promise<void> {
  for (let i = 0; i < items.length; i += size)
    await Promise.all(items.slice(i, i + size).map(work));
}

const us = (ms: number) => `${(ms * 1000).toFixed(1)} µs`;

async function main(): Promise<void> {
  loadLocalEnv();
  process.env.DATABASE_URL ??= 'postgres://tessera_app:tessera_app@127.0.0.1:5432/tessera';
  process.env.DATABASE_MIGRATION_URL ??=
    'postgres://tessera_owner:tessera_owner@127.0.0.1:5432/tessera';
  process.env.AWS_ENDPOINT_URL ??= 'http://127.0.0.1:4566';
  process.env.AWS_ACCESS_KEY_ID ??= 'test';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
  process.env.TENANT_SECRET_PREFIX ??= 'tessera-bench/tenants';
  await runMigrations(databaseConfig().migrationUrl, platformMigrations);

  const app = await NestFactory.createApplicationContext(TenancyStandaloneModule, {
    logger: ['error'],
  });
  const platform = app.get<DataSource>(getDataSourceToken());
  const aws = app.get(AwsClients);
  const secrets = app.get(TenantSecretsService);
  const pools = app.get(TenantPoolsService);
  const tenantDb = app.get(TenantDatabase);
  const config = tenancyConfig();
  const cluster = config.defaultCluster;
  const ids = Array.from({ length: TENANTS }, () => randomUUID());
  const label = `bench-${Date.now().toString(36)}`;

  process.stdout.write(
    `Seeding ${TENANTS} tenants (rows + secrets at ${config.secretPrefix}) ...\n`,
  );
  try {
    await inBatches(ids, 500, (id) =>
      platform.query(
        `insert into tenants (id, name, status, database_secret_id) values ($1, $2, 'active', $3)`,
        [id, `${label}-${id.slice(0, 8)}`, secrets.secretName(id)],
      ),
    );
    const secretString = JSON.stringify({
      engine: 'postgresql',
      host: cluster.host,
      port: cluster.port,
      database: cluster.database,
      username: cluster.username,
      password: cluster.password,
    });
    await inBatches(ids, 16, (id) =>
      aws.secretsManager.send(
        new CreateSecretCommand({ Name: secrets.secretName(id), SecretString: secretString }),
      ),
    );

    // Cold: the first lookup of each tenant (one at a time, so each is a real Secrets Manager read).
    // The app runs in this process: its main thread per lookup / unit (load generation included).
    const coldMeter = new WorkMeter('self');
    const cachedMeter = new WorkMeter('self');
    const mixedMeter = new WorkMeter('self');
    const cold: number[] = [];
    coldMeter.start();
    for (const id of ids) {
      const started = performance.now();
      await secrets.resolve(id);
      cold.push(performance.now() - started);
    }
    await coldMeter.stop(ids.length);
    // Cached: 20 lookups per tenant.
    const cached: number[] = [];
    cachedMeter.start();
    for (let round = 0; round < 20; round += 1) {
      for (const id of ids) {
        const started = performance.now();
        await secrets.resolve(id);
        cached.push(performance.now() - started);
      }
    }
    await cachedMeter.stop(cached.length);

    // Mixed load over random tenants, sampling the tenant cluster's connections.
    const watcher = new Client({
      host: cluster.host,
      port: cluster.port,
      database: cluster.database,
      user: cluster.username,
      password: cluster.password,
    });
    await watcher.connect();
    let maxConnections = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const { rows } = await watcher.query<{ n: string }>(
          `select count(*) as n from pg_stat_activity where datname = current_database() and application_name = 'tessera-tenant'`,
        );
        maxConnections = Math.max(maxConnections, Number(rows[0].n));
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const unitLatency: number[] = [];
    let next = 0;
    const touched = new Set<string>();
    const started = performance.now();
    mixedMeter.start();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < UNITS) {
          next += 1;
          const id = ids[Math.floor(Math.random() * ids.length)];
          touched.add(id);
          const t0 = performance.now();
          await tenantDb.runFor(id, async (m) => {
            if (Math.random() < 0.5)
              await m.query(`insert into tenant_audit_events (action) values ('bench')`);
            await m.query('select count(*) from tenant_audit_events');
          });
          unitLatency.push(performance.now() - t0);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    await mixedMeter.stop(unitLatency.length);
    sampling = false;
    await sampler;
    await watcher.end();

    const c = quantiles(cold);
    const h = quantiles(cached);
    const u = quantiles(unitLatency);
    const poolStats = pools.stats();
    const out = [
      '',
      `Secret resolution (${TENANTS} tenants)`,
      `  cold   p50 ${c.p50.toFixed(2)} ms   p99 ${c.p99.toFixed(2)} ms   (registry row + GetSecretValue)`,
      `  cached p50 ${us(h.p50)}   p99 ${us(h.p99)}   (${cached.length} lookups; target p99 <= 100 µs)`,
      `  cold/cached p50 ratio: ${(c.p50 / h.p50).toFixed(0)}x`,
      `  cold:   ${coldMeter.summary('lookup')}`,
      `  cached: ${cachedMeter.summary('lookup')}`,
      '',
      `Mixed load: ${UNITS} units of work over ${touched.size} distinct tenants, concurrency ${CONCURRENCY}`,
      `  ${(UNITS / seconds).toFixed(0)} units/s   unit p50 ${u.p50.toFixed(2)} ms   p99 ${u.p99.toFixed(2)} ms`,
      `  tenant pools open: ${poolStats.size}   pool max connections: ${config.pool.connections}`,
      `  PostgreSQL connections held by tenant pools (max sampled): ${maxConnections}`,
      `  ${mixedMeter.summary('unit')}`,
      `  connections per tenant: ${(maxConnections / touched.size).toFixed(3)} (bounded by the pool, not by the ${touched.size} tenants)`,
      '',
    ];
    process.stdout.write(out.join('\n'));
  } finally {
    await platform.query(
      `update tenants set status = 'deleted', deleted_at = now() where name like $1`,
      [`${label}-%`],
    );
    await inBatches(ids, 16, (id) =>
      aws.secretsManager
        .send(
          new DeleteSecretCommand({
            SecretId: secrets.secretName(id),
            ForceDeleteWithoutRecovery: true,
          }),
        )
        .catch(() => undefined),
    );
    await app.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench:tenancy failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
