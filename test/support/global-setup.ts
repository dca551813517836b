import { platformMigrations } from '../../migrations/platform';
import { runMigrations } from '../../src/shared/database/migrator';
import { applyTestEnv } from './env';

/** Applies the same migrations production runs, once per test run. */
export default async function globalSetup(): Promise<void> {
  applyTestEnv();
  await runMigrations(process.env.DATABASE_MIGRATION_URL!, platformMigrations);
}
