import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import { cursorCodec, cursorParts, type Page, toPage } from '../../../shared/pagination';
import { TenantContext } from '../../../shared/tenant-context';
import { otherTenant, TenantAuditTrail } from '../../tenancy';
import { Clock } from '../clock';
import type { LedgerListQueryDto, LedgerView } from './retry.dto';
import { locationError } from '../location.errors';
import { type LedgerRow, RetryLedgerRepository } from './retry-ledger.repository';

const ledgerCursor = cursorCodec(z.tuple([cursorParts.instant, cursorParts.uuid]));

const iso = (value: Date | null) => (value ? new Date(value).toISOString() : null);

export function toLedgerView(row: LedgerRow): LedgerView {
  return {
    id: row.id,
    tenant_id: row.tenant_id,
    event_id: row.event_id,
    session_id: row.session_id,
    user_id: row.user_id,
    latitude: row.latitude,
    longitude: row.longitude,
    accuracy: row.accuracy,
    recorded_at: new Date(row.recorded_at).toISOString(),
    status: row.status,
    error_message: row.error_message,
    last_status_code: row.last_status_code,
    attempts: row.attempts,
    retry_count: row.retry_count,
    next_retry_at: iso(row.next_retry_at),
    created_at: new Date(row.created_at).toISOString(),
    updated_at: new Date(row.updated_at).toISOString(),
    resolved_at: iso(row.resolved_at),
  };
}

/** The ledger routes: a tenant owner sees its own tenant; a platform admin all, or `?tenant_id=`. */
@Injectable()
export class RetryLedgerService {
  constructor(
    private readonly ledger: RetryLedgerRepository,
    private readonly context: TenantContext,
    private readonly clock: Clock,
    private readonly audit: TenantAuditTrail,
  ) {}

  /** The tenant filter of this caller: null = every tenant (platform admins only). */
  scope(requested?: string): string | null {
    const principal = this.context.principal;
    if (principal.isPlatformAdmin) return requested ?? principal.tenantId ?? null;
    const own = this.context.tenantId;
    if (requested && requested !== own) {
      throw otherTenant('tenant_id names another tenant than yours', [
        { field: 'tenant_id', message: 'only platform admins may name another tenant' },
      ]);
    }
    return own;
  }

  async stats(requested?: string) {
    const tenantId = this.scope(requested);
    const stats = await this.ledger.stats(tenantId);
    const byStatus = { pending: 0, retried: 0, resolved: 0, permanently_failed: 0 };
    for (const row of stats.byStatus) byStatus[row.status] = Number(row.count);
    return {
      tenant_id: tenantId,
      by_status: byStatus,
      total: Object.values(byStatus).reduce((a, b) => a + b, 0),
      attempts_histogram: stats.histogram.map((h) => ({
        retries: h.retry_count,
        count: Number(h.count),
      })),
      oldest_pending_at: iso(stats.oldest),
      next_due_at: iso(stats.nextDue),
    };
  }

  async list(query: LedgerListQueryDto): Promise<Page<LedgerView>> {
    const tenantId = this.scope(query.tenant_id);
    const after = query.cursor ? ledgerCursor.decode(query.cursor) : null;
    const rows = await this.ledger.list({
      tenantId,
      status: query.status,
      after,
      limit: query.limit,
    });
    return toPage(rows, query.limit, toLedgerView, (row) =>
      ledgerCursor.encode([row.cursor_at, row.id]),
    );
  }

  async replay(id: string, requested?: string) {
    const tenantId = this.scope(requested);
    const row = await this.ledger.replay(id, tenantId, this.clock.now());
    if (row) {
      await this.audit.record(row.tenant_id, 'location_update.retried', {
        ledger_id: row.id,
        session_id: row.session_id,
      });
      return { id: row.id, status: row.status, next_retry_at: iso(row.next_retry_at) };
    }
    const existing = await this.ledger.findForTenant(id, tenantId);
    if (!existing)
      throw locationError('LOCATION.LEDGER_ROW_NOT_FOUND', `Ledger row ${id} not found`);
    throw locationError('LOCATION.LEDGER_ROW_RESOLVED', `Ledger row ${id} is already resolved`);
  }
}
