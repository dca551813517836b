import {
  CreateSecretCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
} from '@aws-sdk/client-secrets-manager';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { InjectRepository } from '@nestjs/typeorm';
import type { Repository } from 'typeorm';
import { tenancyConfig, type TenancyConfig } from '../../config';
import { AwsClients } from '../../shared/aws';
import { AppError } from '../../shared/errors';
import { emitLifecycleEvent } from '../../shared/lifecycle';
import { ApiKeysService } from './api-keys.service';
import { tenancyError, tenantNotFound } from './tenancy.errors';
import {
  TENANT_DELETED,
  TENANT_DELETING,
  TENANT_PROVISIONED,
  TenantDeletedEvent,
  TenantDeletingEvent,
  TenantProvisionedEvent,
} from './tenancy.events';
import { TenantEntity } from './tenant.entity';
import { TenantDatabase } from './database/tenant-database.service';
import { TenantMigratorService } from './database/tenant-migrator.service';
import type { TenantSecretJson } from './database/tenant-secret';
import { TenantSecretsService } from './database/tenant-secrets.service';
import { isUniqueViolation, toTenantView, type TenantView } from './tenants.service';

export interface CreateTenantInput {
  name: string;
  concurrency_config?: number;
  database_secret_id?: string;
  allow_self_signup?: boolean;
}

export type ProvisionedTenant = TenantView & { api_key: string; api_key_id: string };

/**
 * Creating and deleting tenants. Provisioning runs in order — database secret, tenant migrations,
 * first API key, `tenant.provisioned` — and any failure leaves the tenant visibly
 * `provisioning_failed` with its keys revoked; creating the same name again retries every step
 * (each is idempotent).
 */
@Injectable()
export class TenantProvisionerService {
  private readonly logger = new Logger(TenantProvisionerService.name);

  constructor(
    @Inject(tenancyConfig.KEY) private readonly config: TenancyConfig,
    @InjectRepository(TenantEntity) private readonly tenants: Repository<TenantEntity>,
    private readonly aws: AwsClients,
    private readonly secrets: TenantSecretsService,
    private readonly migrator: TenantMigratorService,
    private readonly apiKeys: ApiKeysService,
    private readonly tenantDb: TenantDatabase,
    private readonly events: EventEmitter2,
  ) {}

  async create(input: CreateTenantInput): Promise<ProvisionedTenant> {
    if (input.database_secret_id) await this.checkAdoptedSecret(input.database_secret_id);
    const tenant = await this.claim(input);
    let step = 'secret';
    try {
      if (tenant.secretManaged) await this.writeSecret(tenant.id);
      this.secrets.invalidate(tenant.id);
      const secret = await this.secrets.resolve(tenant.id);
      step = 'migrations';
      await this.migrator.migrate(secret);
      step = 'api_key';
      const key = await this.apiKeys.issue(tenant.id);
      step = 'tenant_database';
      await this.tenantDb.runFor(tenant.id, (manager) =>
        manager.query(
          `insert into tenant_audit_events (tenant_id, action, details) values ($1, 'tenant.provisioned', $2)`,
          [tenant.id, JSON.stringify({ name: tenant.name, api_key_id: key.id })],
        ),
      );
      step = 'event';
      await this.events.emitAsync(
        TENANT_PROVISIONED,
        new TenantProvisionedEvent(tenant.id, tenant.name, tenant.concurrencyConfig),
      );
      // Conditional, like every status move here: a tenant whose status changed meanwhile stays so.
      const activated = await this.tenants.update(
        { id: tenant.id, status: 'provisioning' },
        { status: 'active', provisioningError: null },
      );
      if (!activated.affected) throw new Error('the tenant left provisioning meanwhile');
      const active = await this.tenants.findOneByOrFail({ id: tenant.id });
      this.logger.log(`Tenant ${tenant.id} (${tenant.name}) provisioned`);
      return { ...toTenantView(active), api_key: key.api_key, api_key_id: key.id };
    } catch (error) {
      await this.fail(tenant, step, error);
      throw tenancyError(
        'TENANCY.PROVISIONING_FAILED',
        `Provisioning tenant '${tenant.name}' failed at step ${step}; it is marked provisioning_failed: create it again with the same name to retry`,
        [{ tenant_id: tenant.id, step, status: 'provisioning_failed' }],
      );
    }
  }

  /**
   * `tenant.deleting` (awaited: modules drain and stop), then keys revoked and the tenant marked
   * deleted. A tenant still provisioning is refused (409): the move to `deleting` is conditional,
   * so a provisioning that is running can never bring a deleted tenant back.
   */
  async delete(id: string): Promise<void> {
    const tenant = await this.tenants.findOneBy({ id });
    if (!tenant || tenant.status === 'deleted') throw tenantNotFound(id);
    const moved = await this.tenants
      .createQueryBuilder()
      .update()
      .set({ status: 'deleting' })
      .where(`id = :id and status in ('active', 'provisioning_failed', 'deleting')`, { id })
      .execute();
    if (!moved.affected) {
      const now = await this.tenants.findOneBy({ id });
      if (!now || now.status === 'deleted') throw tenantNotFound(id);
      throw tenancyError(
        'TENANCY.TENANT_NOT_ACTIVE',
        `Tenant ${id} is provisioning; delete it once provisioning has finished`,
      );
    }
    try {
      await this.events.emitAsync(TENANT_DELETING, new TenantDeletingEvent(id, tenant.name));
    } catch (error) {
      this.logger.error(
        { err: error },
        `Tenant ${id}: a tenant.deleting handler failed; the tenant stays 'deleting'`,
      );
      throw tenancyError(
        'TENANCY.DELETION_INCOMPLETE',
        `Tenant ${id} could not be drained; send DELETE again`,
      );
    }
    await this.apiKeys.revokeAll(id);
    await this.tenants.update(
      { id, status: 'deleting' },
      { status: 'deleted', deletedAt: () => 'now()' },
    );
    this.secrets.invalidate(id);
    this.logger.log(`Tenant ${id} (${tenant.name}) deleted`);
    emitLifecycleEvent(this.events, this.logger, TENANT_DELETED, new TenantDeletedEvent(id));
  }

  /** A new row, or the failed tenant of the same name taken back for a retry; 409 otherwise. */
  private async claim(input: CreateTenantInput): Promise<TenantEntity> {
    const fields = {
      name: input.name,
      concurrencyConfig: input.concurrency_config ?? 3,
      allowSelfSignup: input.allow_self_signup ?? false,
      databaseSecretId: input.database_secret_id ?? null,
      secretManaged: !input.database_secret_id,
      provisioningError: null,
    };
    try {
      return await this.tenants.save(this.tenants.create({ ...fields, status: 'provisioning' }));
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
    }
    const existing = await this.tenants
      .createQueryBuilder('t')
      .where(`lower(t.name) = lower(:name) and t.status <> 'deleted'`, { name: input.name })
      .getOne();
    if (existing?.status === 'provisioning_failed') {
      const claimed = await this.tenants.update(
        { id: existing.id, status: 'provisioning_failed' },
        { ...fields, status: 'provisioning' },
      );
      if (claimed.affected) return this.tenants.findOneByOrFail({ id: existing.id });
    }
    throw tenancyError('TENANCY.NAME_TAKEN', `A tenant named '${input.name}' exists`);
  }

  private async writeSecret(tenantId: string): Promise<void> {
    const cluster = this.config.defaultCluster;
    const value: TenantSecretJson = {
      engine: 'postgresql',
      host: cluster.host,
      port: cluster.port,
      database: cluster.database,
      username: cluster.username,
      password: cluster.password,
      pool: { max: this.config.pool.connections, idle_timeout_ms: this.config.pool.idleTimeoutMs },
      ...(cluster.tls.mode !== 'disable' && { sslmode: cluster.tls.mode }),
      ...(cluster.tls.ca && { sslrootcert: cluster.tls.ca }),
    };
    const name = this.secrets.secretName(tenantId);
    const SecretString = JSON.stringify(value);
    try {
      await this.aws.secretsManager.send(
        new CreateSecretCommand({
          Name: name,
          SecretString,
          Description: `Tessera tenant ${tenantId}: database connection`,
        }),
      );
    } catch (error) {
      if (!(error instanceof ResourceExistsException)) throw error;
      await this.aws.secretsManager.send(
        new PutSecretValueCommand({ SecretId: name, SecretString }),
      );
    }
    await this.tenants.update({ id: tenantId }, { databaseSecretId: name });
  }

  private async checkAdoptedSecret(secretId: string): Promise<void> {
    try {
      await this.secrets.readSecretId('00000000-0000-0000-0000-000000000000', secretId);
    } catch (error) {
      if (error instanceof ResourceNotFoundException) {
        throw tenancyError('TENANCY.INVALID_SECRET', `No secret ${secretId} in Secrets Manager`);
      }
      if (error instanceof Error && error.message.startsWith('secret ')) {
        throw tenancyError('TENANCY.INVALID_SECRET', error.message);
      }
      throw tenancyError(
        'TENANCY.SECRETS_UNAVAILABLE',
        'Secrets Manager does not answer; retry later',
      );
    }
  }

  private async fail(tenant: TenantEntity, step: string, error: unknown): Promise<void> {
    const message =
      error instanceof AppError || error instanceof Error ? error.message : String(error);
    this.logger.error({ err: error }, `Provisioning tenant ${tenant.id} failed at step ${step}`);
    try {
      await this.apiKeys.revokeAll(tenant.id);
      await this.tenants.update(
        { id: tenant.id, status: 'provisioning' },
        { status: 'provisioning_failed', provisioningError: `${step}: ${message}`.slice(0, 1000) },
      );
    } catch (markError) {
      this.logger.error(
        { err: markError },
        `Tenant ${tenant.id}: could not record the failed provisioning`,
      );
    }
    this.secrets.invalidate(tenant.id);
  }
}
