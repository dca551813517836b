import { Inject, Injectable, Logger } from '@nestjs/common';
import { tenantMigrations } from '../../../../migrations/tenant';
import { tenancyConfig, type TenancyConfig } from '../../../config';
import { runMigrations } from '../../../shared/database';
import type { TenantSecret } from './tenant-secret';

const TENANT_MIGRATIONS_LOCK = 74_202;

/**
 * Applies migrations/tenant to a tenant database as an owner role: the default cluster's owner
 * (config), or `owner_username`/`owner_password` from a silo tenant's secret. Once per database
 * and process at first connection; always at provisioning. The runtime role never owns tables.
 */
@Injectable()
export class TenantMigratorService {
  private readonly logger = new Logger(TenantMigratorService.name);
  private readonly done = new Map<string, Promise<void>>();

  constructor(@Inject(tenancyConfig.KEY) private readonly config: TenancyConfig) {}

  /** Migrates now (provisioning): fails when no owner credentials are known for that database. */
  async migrate(secret: TenantSecret): Promise<string[]> {
    const url = this.ownerUrl(secret);
    if (!url) {
      throw new Error(
        `no owner credentials for ${this.databaseKey(secret)}: add owner_username and owner_password to secret ${secret.secretId}`,
      );
    }
    const applied = await runMigrations(url, tenantMigrations, {
      tableName: 'tenant_migrations',
      lockKey: TENANT_MIGRATIONS_LOCK,
      tls: secret.tls,
    });
    if (applied.length)
      this.logger.log(
        `Tenant migrations applied to ${this.databaseKey(secret)}: ${applied.join(', ')}`,
      );
    this.done.set(this.databaseKey(secret), Promise.resolve());
    return applied;
  }

  /** At first connection to a database in this process: migrates when owner credentials are known. */
  ensure(secret: TenantSecret): Promise<void> {
    const key = this.databaseKey(secret);
    let pending = this.done.get(key);
    if (!pending) {
      pending = this.ownerUrl(secret)
        ? this.migrate(secret).then(() => undefined)
        : Promise.resolve();
      pending.catch(() => this.done.delete(key));
      this.done.set(key, pending);
    }
    return pending;
  }

  private ownerUrl(secret: TenantSecret): string | undefined {
    const cluster = this.config.defaultCluster;
    const { host, port, database } = secret.identity;
    const owner =
      secret.owner ??
      (host === cluster.host && port === cluster.port && database === cluster.database
        ? { username: cluster.ownerUsername, password: cluster.ownerPassword }
        : undefined);
    if (!owner) return undefined;
    const auth = `${encodeURIComponent(owner.username)}:${encodeURIComponent(owner.password)}`;
    return `postgres://${auth}@${host}:${port}/${encodeURIComponent(database)}`;
  }

  private databaseKey(secret: TenantSecret): string {
    return `${secret.identity.host}:${secret.identity.port}/${secret.identity.database}`;
  }
}
