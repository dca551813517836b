import { Injectable, Logger } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { InjectRepository } from '@nestjs/typeorm';
import { QueryFailedError, type Repository } from 'typeorm';
import { z } from 'zod';
import {
  cursorCodec,
  cursorParts,
  type Page,
  toPage,
  withCursorInstant,
} from '../../shared/pagination';
import { emitLifecycleEvent } from '../../shared/lifecycle';
import { tenancyError, tenantNotFound } from './tenancy.errors';
import { TENANT_UPDATED, TenantUpdatedEvent } from './tenancy.events';
import { TenantEntity, type TenantStatus } from './tenant.entity';
import { isTenantId } from './tenant-id';

/** A tenant as the API answers it (snake_case). */
export interface TenantView {
  id: string;
  name: string;
  status: TenantStatus;
  allow_self_signup: boolean;
  concurrency_config: number;
  created_at: string;
  updated_at: string;
  /** Why provisioning failed, while the status is `provisioning_failed`. */
  provisioning_error?: string;
}

export type TenantPage = Page<TenantView>;

// (created_at to the microsecond, id): the keyset of the newest-first list.
const tenantCursor = cursorCodec(z.tuple([cursorParts.instant, cursorParts.uuid]));

export function toTenantView(tenant: TenantEntity): TenantView {
  return {
    id: tenant.id,
    name: tenant.name,
    status: tenant.status,
    allow_self_signup: tenant.allowSelfSignup,
    concurrency_config: tenant.concurrencyConfig,
    created_at: tenant.createdAt.toISOString(),
    updated_at: tenant.updatedAt.toISOString(),
    ...(tenant.status === 'provisioning_failed' && tenant.provisioningError
      ? { provisioning_error: tenant.provisioningError }
      : {}),
  };
}

/** The tenant registry (platform database). */
@Injectable()
export class TenantsService {
  private readonly logger = new Logger(TenantsService.name);

  constructor(
    @InjectRepository(TenantEntity) private readonly tenants: Repository<TenantEntity>,
    private readonly events: EventEmitter2,
  ) {}

  /** The tenant, deleted ones included; null when the id is unknown or not a uuid. */
  async findById(id: string): Promise<TenantView | null> {
    if (!isTenantId(id)) return null;
    const tenant = await this.tenants.findOneBy({ id });
    return tenant ? toTenantView(tenant) : null;
  }

  /** True when the tenant exists and is `active` (its members and keys may work). */
  async isActive(id: string): Promise<boolean> {
    if (!isTenantId(id)) return false;
    return this.tenants.exists({ where: { id, status: 'active' } });
  }

  /** The tenant when active; 404 when unknown or deleted, 409 when provisioning, failed or deleting. */
  async requireActive(id: string): Promise<TenantView> {
    const tenant = await this.findById(id);
    if (!tenant || tenant.status === 'deleted') throw tenantNotFound(id);
    if (tenant.status !== 'active') {
      throw tenancyError(
        'TENANCY.TENANT_NOT_ACTIVE',
        `Tenant ${id} is ${tenant.status.replace('_', ' ')}`,
      );
    }
    return tenant;
  }

  /** Newest first; deleted tenants only when asked for by status. */
  async list(query: {
    limit: number;
    cursor?: string;
    status?: TenantStatus;
  }): Promise<TenantPage> {
    const qb = this.tenants
      .createQueryBuilder('t')
      .orderBy('t.created_at', 'DESC')
      .addOrderBy('t.id', 'DESC');
    if (query.status) qb.andWhere('t.status = :status', { status: query.status });
    else qb.andWhere(`t.status <> 'deleted'`);
    if (query.cursor) {
      const [createdAt, id] = tenantCursor.decode(query.cursor);
      qb.andWhere('(t.created_at, t.id) < (:createdAt::timestamptz, :id::uuid)', {
        createdAt,
        id,
      });
    }
    const rows = await withCursorInstant(qb.limit(query.limit + 1), 't.created_at');
    return toPage(
      rows,
      query.limit,
      ({ row }) => toTenantView(row),
      ({ row, at }) => tenantCursor.encode([at, row.id]),
    );
  }

  /** Renames or opens/closes self sign-up; 404 unknown/deleted, 409 name taken. */
  async update(
    id: string,
    changes: { name?: string; allow_self_signup?: boolean },
  ): Promise<TenantView> {
    const tenant = await this.live(id);
    if (changes.name !== undefined) tenant.name = changes.name;
    if (changes.allow_self_signup !== undefined) tenant.allowSelfSignup = changes.allow_self_signup;
    let saved: TenantEntity;
    try {
      saved = await this.tenants.save(tenant);
    } catch (error) {
      if (isUniqueViolation(error))
        throw tenancyError('TENANCY.NAME_TAKEN', `A tenant named '${changes.name}' exists`);
      throw error;
    }
    const fields = Object.entries(changes)
      .filter(([, value]) => value !== undefined)
      .map(([field]) => field);
    emitLifecycleEvent(
      this.events,
      this.logger,
      TENANT_UPDATED,
      new TenantUpdatedEvent(saved.id, saved.name, fields),
    );
    return toTenantView(saved);
  }

  /** The tenant's default worker count (the messaging module scales its queues from it). */
  async setConcurrency(id: string, workers: number): Promise<TenantView> {
    const tenant = await this.live(id);
    tenant.concurrencyConfig = workers;
    return toTenantView(await this.tenants.save(tenant));
  }

  /** Ids of every tenant that is not deleted (health checks, tenant migrations). */
  async liveIds(): Promise<Array<{ id: string; name: string; status: TenantStatus }>> {
    return this.tenants
      .createQueryBuilder('t')
      .select(['t.id', 't.name', 't.status'])
      .where(`t.status <> 'deleted'`)
      .orderBy('t.created_at')
      .getMany();
  }

  private async live(id: string): Promise<TenantEntity> {
    const tenant = isTenantId(id) ? await this.tenants.findOneBy({ id }) : null;
    if (!tenant || tenant.status === 'deleted') throw tenantNotFound(id);
    return tenant;
  }
}

export function isUniqueViolation(error: unknown): boolean {
  return (
    error instanceof QueryFailedError && (error.driverError as { code?: string }).code === '23505'
  );
}
