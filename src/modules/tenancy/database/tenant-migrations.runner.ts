import { Injectable, Logger } from '@nestjs/common';
import type { TenantSecret } from './tenant-secret';
import { TenantMigratorService } from './tenant-migrator.service';
import { TenantSecretsService } from './tenant-secrets.service';
import { TenantsService } from '../tenants.service';

export interface TenantMigrationReport {
  /** Each tenant database once, however many tenants share it. */
  databases: Array<{ database: string; tenants: number; applied: string[]; error?: string }>;
  /** Tenants whose secret could not be read (their database was not reached). */
  unresolved: Array<{ tenant_id: string; error: string }>;
}

/**
 * `npm run migrate:tenants`: applies migrations/tenant to the database of every live tenant,
 * once per database (pooled tenants share one), so a deploy need not wait for each database's
 * first use. Failures are reported, not thrown, so one broken tenant does not stop the others.
 */
@Injectable()
export class TenantMigrationsRunner {
  private readonly logger = new Logger(TenantMigrationsRunner.name);

  constructor(
    private readonly tenants: TenantsService,
    private readonly secrets: TenantSecretsService,
    private readonly migrator: TenantMigratorService,
  ) {}

  async migrateAll(): Promise<TenantMigrationReport> {
    const report: TenantMigrationReport = { databases: [], unresolved: [] };
    const byDatabase = new Map<string, TenantSecret[]>();
    for (const tenant of await this.tenants.liveIds()) {
      try {
        const secret = await this.secrets.resolve(tenant.id);
        const { host, port, database } = secret.identity;
        const key = `${host}:${port}/${database}`;
        byDatabase.set(key, [...(byDatabase.get(key) ?? []), secret]);
      } catch (error) {
        report.unresolved.push({ tenant_id: tenant.id, error: messageOf(error) });
      }
    }
    for (const [database, secrets] of byDatabase) {
      // A silo's owner credentials live in its secret: prefer a secret that carries them.
      const secret = secrets.find((s) => s.owner) ?? secrets[0];
      try {
        const applied = await this.migrator.migrate(secret);
        report.databases.push({ database, tenants: secrets.length, applied });
      } catch (error) {
        this.logger.error(`Tenant migrations failed on ${database}: ${messageOf(error)}`);
        report.databases.push({
          database,
          tenants: secrets.length,
          applied: [],
          error: messageOf(error),
        });
      }
    }
    return report;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
