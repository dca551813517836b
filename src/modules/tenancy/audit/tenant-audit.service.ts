import { Injectable, Logger } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { z } from 'zod';
import { emitLifecycleEvent } from '../../../shared/lifecycle';
import {
  cursorCodec,
  cursorInstantSql,
  cursorParts,
  type Page,
  toPage,
} from '../../../shared/pagination';
import { type Principal, TenantContext } from '../../../shared/tenant-context';
import { TenantDatabase } from '../database/tenant-database.service';
import {
  type AuditAction,
  type AuditDetails,
  TENANT_AUDIT_RECORDED,
  TenantAuditRecordedEvent,
} from './tenant-audit.actions';
import type { ListAuditQuery } from './tenant-audit.dto';

/** One row of the trail as the API answers it. */
export interface AuditEntryView {
  id: string;
  tenant_id: string;
  action: string;
  actor: string | null;
  details: Record<string, unknown>;
  created_at: string;
}

interface AuditRow {
  id: string;
  tenant_id: string;
  action: string;
  actor: string | null;
  details: Record<string, unknown>;
  created_at: string;
}

// (created_at to the microsecond, id): newest first.
const auditCursor = cursorCodec(z.tuple([cursorParts.instant, cursorParts.uuid]));
const MAX_TEXT = 200;

/** Who acted: the user of the session, else what proved the call (an API key). */
export function actorOf(principal: Principal | undefined): string | null {
  if (!principal) return null;
  if (principal.userId) return principal.userId;
  if (principal.isPlatformAdmin) return 'platform_admin';
  if (principal.via === 'api_key') return 'api_key';
  return null;
}

/** Flat values, long strings cut: the trail never holds a payload. */
function flat(details: AuditDetails): AuditDetails {
  const out: AuditDetails = {};
  for (const [key, value] of Object.entries(details)) {
    if (value === undefined) continue;
    out[key] = typeof value === 'string' ? value.slice(0, MAX_TEXT) : value;
  }
  return out;
}

/**
 * The tenant audit trail (`tenant_audit_events`, in the tenant's own database): the one writer
 * every module records its tenant-changing actions through, and the reader of `GET /tenant/audit`.
 */
@Injectable()
export class TenantAuditTrail {
  private readonly logger = new Logger(TenantAuditTrail.name);

  constructor(
    private readonly tenantDb: TenantDatabase,
    private readonly context: TenantContext,
    private readonly events: EventEmitter2,
  ) {}

  /** The caller of the current unit of work, as the trail names it (null when there is none). */
  currentActor(): string | null {
    return actorOf(this.context.principalOrNull());
  }

  /**
   * Records one action after it took effect. Best effort and never throws: the change is made, so
   * a tenant database that does not answer only loses the line (logged). The actor is the
   * caller of the current unit of work unless given (a login has no principal yet).
   */
  async record(
    tenantId: string,
    action: AuditAction,
    details: AuditDetails = {},
    actor: string | null = this.currentActor(),
  ): Promise<void> {
    try {
      const clean = flat(details);
      const [row] = await this.tenantDb.runFor(tenantId, (manager) =>
        manager.query<Array<{ id: string; created_at: string }>>(
          `insert into tenant_audit_events (tenant_id, action, actor, details) values ($1, $2, $3, $4)
           returning id, ${cursorInstantSql('created_at')} as created_at`,
          [tenantId, action, actor?.slice(0, MAX_TEXT) ?? null, JSON.stringify(clean)],
        ),
      );
      emitLifecycleEvent(
        this.events,
        this.logger,
        TENANT_AUDIT_RECORDED,
        new TenantAuditRecordedEvent(tenantId, row.id, action, actor, clean, row.created_at),
      );
    } catch (error) {
      this.logger.warn({ err: error, tenantId }, `Audit of ${action} not recorded`);
    }
  }

  /** The current tenant's trail, newest first; filters combine. */
  list(query: ListAuditQuery): Promise<Page<AuditEntryView>> {
    const params: unknown[] = [];
    const where: string[] = [];
    const param = (value: unknown) => `$${params.push(value)}`;
    const after = query.cursor ? auditCursor.decode(query.cursor) : null;
    return this.tenantDb.run(async (manager) => {
      where.push(`tenant_id = ${param(this.context.tenantId)}`);
      if (query.actor) where.push(`actor = ${param(query.actor)}`);
      if (query.action) where.push(`action = ${param(query.action)}`);
      if (query.from) where.push(`created_at >= ${param(query.from)}::timestamptz`);
      if (query.to) where.push(`created_at < ${param(query.to)}::timestamptz`);
      if (after)
        where.push(
          `(created_at, id) < (${param(after[0])}::timestamptz, ${param(after[1])}::uuid)`,
        );
      const rows = await manager.query<Array<AuditRow & { cursor_at: string }>>(
        `select id, tenant_id, action, actor, details, created_at,
                ${cursorInstantSql('created_at')} as cursor_at
           from tenant_audit_events where ${where.join(' and ')}
          order by created_at desc, id desc limit ${param(query.limit + 1)}`,
        params,
      );
      return toPage(rows, query.limit, toView, (row) =>
        auditCursor.encode([row.cursor_at, row.id]),
      );
    });
  }
}

function toView(row: AuditRow): AuditEntryView {
  return {
    id: row.id,
    tenant_id: row.tenant_id,
    action: row.action,
    actor: row.actor,
    details: row.details,
    created_at: new Date(row.created_at).toISOString(),
  };
}
