import { DataSource, type MigrationInterface } from 'typeorm';
import { pgSslOptions, type PgTls } from './pg-tls';

type MigrationClass = new () => MigrationInterface;

/**
 * Applies migrations as the owner role, each in its own transaction. An advisory lock makes
 * concurrent runs (several instances, parallel test workers) wait for each other.
 */
export async function runMigrations(
  url: string,
  migrations: MigrationClass[],
  options: { tableName?: string; lockKey?: number; tls?: PgTls } = {},
): Promise<string[]> {
  const dataSource = new DataSource({
    type: 'postgres',
    url,
    ssl: pgSslOptions(options.tls ?? { mode: 'disable' }),
    migrations,
    migrationsTableName: options.tableName ?? 'migrations',
    migrationsTransactionMode: 'each',
    applicationName: 'tessera-migrate',
  });
  await dataSource.initialize();
  try {
    const runner = dataSource.createQueryRunner();
    await runner.connect();
    const lockKey = options.lockKey ?? 74_201;
    await runner.query('select pg_advisory_lock($1)', [lockKey]);
    try {
      const applied = await dataSource.runMigrations({ transaction: 'each' });
      return applied.map((migration) => migration.name);
    } finally {
      await runner.query('select pg_advisory_unlock($1)', [lockKey]);
      await runner.release();
    }
  } finally {
    await dataSource.destroy();
  }
}
