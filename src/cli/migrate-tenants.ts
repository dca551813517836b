import { NestFactory } from '@nestjs/core';
import { loadLocalEnv } from '../config';
import { TenantMigrationsRunner } from '../modules/tenancy';
import { TenancyStandaloneModule } from './tenancy-standalone.module';

/**
 * `npm run migrate:tenants`: migrations/tenant on every live tenant's database, once per database.
 * Prints one line per database and per unreadable secret; exits 1 when anything failed.
 */
async function main(): Promise<void> {
  loadLocalEnv();
  const app = await NestFactory.createApplicationContext(TenancyStandaloneModule, {
    logger: ['error', 'warn'],
  });
  try {
    const report = await app.get(TenantMigrationsRunner).migrateAll();
    for (const db of report.databases) {
      const outcome = db.error
        ? `FAILED: ${db.error}`
        : db.applied.length
          ? `applied ${db.applied.join(', ')}`
          : 'up to date';
      process.stdout.write(`${db.database} (${db.tenants} tenants): ${outcome}\n`);
    }
    for (const missing of report.unresolved) {
      process.stdout.write(`tenant ${missing.tenant_id}: secret not readable: ${missing.error}\n`);
    }
    if (report.databases.some((db) => db.error) || report.unresolved.length > 0)
      process.exitCode = 1;
  } finally {
    await app.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `Tenant migrations failed: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
