import { platformMigrations } from '../../migrations/platform';
import { databaseConfig, loadLocalEnv } from '../config';
import { runMigrations } from '../shared/database';

/** `npm run migrate`: applies the platform migrations as the owner role. */
async function main(): Promise<void> {
  loadLocalEnv();
  const applied = await runMigrations(databaseConfig().migrationUrl, platformMigrations, {
    tls: databaseConfig().tls,
  });
  process.stdout.write(
    applied.length ? `Applied: ${applied.join(', ')}\n` : 'Platform schema is up to date\n',
  );
}

main().catch((error: unknown) => {
  process.stderr.write(
    `Migration failed: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
