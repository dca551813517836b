import { Injectable, Logger } from '@nestjs/common';
import { ClsService } from 'nestjs-cls';
import type { DataSource, EntityManager, EntityTarget, ObjectLiteral, Repository } from 'typeorm';
import { AppError } from '../../../shared/errors';
import { TenantContext, type TenantContextStore } from '../../../shared/tenant-context';
import { tenancyError } from '../tenancy.errors';
import { credentialRetries } from '../tenancy.metrics';
import { TenantMigratorService } from './tenant-migrator.service';
import { type PoolStats, TenantPoolsService } from './tenant-pools.service';
import type { TenantSecret } from './tenant-secret';
import { TenantSecretsService } from './tenant-secrets.service';
import { assertTenantId } from '../tenant-id';
import { tenantLabel } from '../../../shared/metrics';

/** PostgreSQL codes of a refused login: rotated (or wrong) credentials. */
const AUTH_FAILURES = new Set(['28P01', '28000']);
/** Node and PostgreSQL codes of a database that does not answer. */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  '57P03',
  '3D000',
]);
/**
 * Node's codes of a TLS handshake the client refused (a wrong CA, a name not in the certificate,
 * an expired or self-signed one): the tenant's secret or its cluster is wrong, not the request.
 */
const TLS_FAILURES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * The one way to work on tenant data. `run` resolves the current tenant's secret, leases the pool
 * of its connection identity, opens a transaction, runs `set_config('app.tenant_id', $1, true)`
 * (transaction-local: the connection carries nothing into the next unit of work), and binds that
 * transaction's EntityManager into the tenant context for `getRepository` / `manager`.
 */
@Injectable()
export class TenantDatabase {
  private readonly logger = new Logger(TenantDatabase.name);

  constructor(
    private readonly cls: ClsService<TenantContextStore>,
    private readonly context: TenantContext,
    private readonly secrets: TenantSecretsService,
    private readonly pools: TenantPoolsService,
    private readonly migrator: TenantMigratorService,
  ) {}

  /** Runs `work` in a transaction of the current context's tenant (nested calls join the open one). */
  run<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.runFor(this.context.tenantId, work);
  }

  /** As `run`, for a tenant named by trusted code (workers, health checks), not by a request body. */
  async runFor<T>(tenantId: string, work: (manager: EntityManager) => Promise<T>): Promise<T> {
    assertTenantId(tenantId);
    const open = this.openTransaction(tenantId);
    if (open) return work(open);
    return this.onTenantDatabase(tenantId, (dataSource) =>
      dataSource.transaction((manager) =>
        this.cls.run({ ifNested: 'inherit' }, async () => {
          await manager.query(`select set_config('app.tenant_id', $1, true)`, [tenantId]);
          this.cls.set('tenantTransaction', { tenantId, manager });
          return work(manager);
        }),
      ),
    );
  }

  /**
   * One statement on the tenant's database in its own transaction, for the tenant functions that
   * set `app.tenant_id` themselves (`set_config(…, true)`, then their work: migrations/tenant):
   * one round trip where `runFor` takes four. RLS is forced as ever, so a statement that does
   * not set the tenant reaches no row. Inside an open transaction of the tenant, it joins it.
   */
  async statementFor<T = unknown>(tenantId: string, sql: string, params: unknown[]): Promise<T[]> {
    assertTenantId(tenantId);
    const open = this.openTransaction(tenantId);
    if (open) return open.query(sql, params);
    return this.onTenantDatabase(tenantId, (dataSource) => dataSource.query(sql, params));
  }

  private openTransaction(tenantId: string): EntityManager | undefined {
    const open = this.cls.isActive() ? this.cls.get('tenantTransaction') : undefined;
    if (open && open.tenantId !== tenantId)
      throw new Error('A tenant transaction is open for another tenant');
    return open?.manager;
  }

  /**
   * `work` on the tenant's pool (leased; pending tenant migrations applied first), with the
   * errors translated and one retry on a refused login (rotated credentials).
   */
  private async onTenantDatabase<T>(
    tenantId: string,
    work: (dataSource: DataSource) => Promise<T>,
  ): Promise<T> {
    const attempt = (secret: TenantSecret) =>
      this.pools.withDataSource(secret, async (dataSource) => {
        await this.migrator.ensure(secret);
        return work(dataSource);
      });
    const secret = await this.secrets.resolve(tenantId);
    try {
      return await attempt(secret);
    } catch (error) {
      if (!AUTH_FAILURES.has(errorCode(error))) throw this.translate(tenantId, error);
      // Rotated credentials: read the secret again (once for all who failed) and retry once.
      credentialRetries.inc({ tenant_id: tenantLabel(tenantId) });
      this.logger.warn(
        `Tenant ${tenantId}: login refused for ${secret.identityKey}; re-reading the secret and retrying once`,
      );
      const fresh = await this.secrets.refresh(tenantId, secret.fetchedAt);
      try {
        return await attempt(fresh);
      } catch (retryError) {
        throw this.translate(tenantId, retryError);
      }
    }
  }

  /** The open transaction's manager (inside `run`). */
  get manager(): EntityManager {
    const open = this.cls.isActive() ? this.cls.get('tenantTransaction') : undefined;
    if (!open)
      throw tenancyError(
        'TENANCY.NO_TRANSACTION',
        'Tenant data is reached inside TenantDatabase.run()',
      );
    return open.manager;
  }

  /** The repository of `entity` bound to the open tenant transaction (inside `run`). */
  getRepository<E extends ObjectLiteral>(entity: EntityTarget<E>): Repository<E> {
    return this.manager.getRepository(entity);
  }

  /** Figures of the pool the tenant uses (no credentials); resolves the secret (404/503 as `run`). */
  async poolOf(tenantId: string): Promise<{ secret: TenantSecret; pool: PoolStats | null }> {
    assertTenantId(tenantId);
    const secret = await this.secrets.resolve(tenantId);
    return { secret, pool: this.pools.statsFor(secret) };
  }

  private translate(tenantId: string, error: unknown): unknown {
    if (error instanceof AppError) return error;
    const code = errorCode(error);
    if (TLS_FAILURES.has(code) || isTlsRefusedByServer(error)) {
      this.logger.error(
        `Tenant ${tenantId}: TLS to its database failed (${code || String(error)}); check sslmode and sslrootcert in its secret`,
      );
      return tenancyError(
        'TENANCY.DATABASE_UNAVAILABLE',
        `The database of tenant ${tenantId} does not answer; retry later`,
      );
    }
    if (AUTH_FAILURES.has(code) || UNREACHABLE.has(code) || isPoolTimeout(error)) {
      this.logger.warn(`Tenant ${tenantId}: database unavailable (${code || String(error)})`);
      return tenancyError(
        'TENANCY.DATABASE_UNAVAILABLE',
        `The database of tenant ${tenantId} does not answer; retry later`,
      );
    }
    return error;
  }
}

function errorCode(error: unknown): string {
  return typeof error === 'object' &&
    error !== null &&
    'code' in error &&
    typeof error.code === 'string'
    ? error.code
    : '';
}

function isPoolTimeout(error: unknown): boolean {
  return (
    error instanceof Error &&
    /timeout exceeded when trying to connect|Connection terminated due to connection timeout/i.test(
      error.message,
    )
  );
}

/** node-postgres's message when the secret asks for TLS and the server has none. */
function isTlsRefusedByServer(error: unknown): boolean {
  return error instanceof Error && /server does not support SSL connections/i.test(error.message);
}
