import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { LOCATION_SWEEP_SETTING } from '../../../../migrations/tenant/1700000008101-location';
import { locationConfig, type LocationConfig } from '../../../config';
import { TenantDatabase, TenantsService } from '../../tenancy';
import { LocationSessionsService } from './location-sessions.service';
import { LocationSessionEntity } from './location-session.entity';
import { SessionCache } from './session-cache';

interface ExpiredRow {
  id: string;
  tenant_id: string;
  user_id: string;
}

/**
 * Ends sessions at `expires_at` (status `expired`). Each tick runs ONE statement per tenant
 * database (tenants are grouped by connection identity: a thousand pooled tenants are one
 * statement), through the sweep policy of the location migration. Safe with several instances:
 * the statement claims due rows with FOR UPDATE SKIP LOCKED and only moves `active` rows, so
 * each session is expired (and its event emitted) exactly once, whichever instance got it.
 */
@Injectable()
export class SessionExpiryJob implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(SessionExpiryJob.name);
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private groups: { at: number; byIdentity: Map<string, string[]> } = {
    at: 0,
    byIdentity: new Map(),
  };
  private readonly backoff = new Map<string, { until: number; delayMs: number }>();
  private regrouping: Promise<void> | null = null;

  constructor(
    @Inject(locationConfig.KEY) private readonly config: LocationConfig,
    private readonly tenants: TenantsService,
    private readonly tenantDb: TenantDatabase,
    private readonly sessions: LocationSessionsService,
    private readonly cache: SessionCache,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.workersEnabled) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.tick()
        .then(() => undefined)
        .catch((error: unknown) => this.logger.warn({ err: error }, 'Session expiry tick failed'))
        .finally(() => (this.running = null));
    }, this.config.expiryIntervalMs);
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
    await this.regrouping;
  }

  /** One pass: returns the sessions it expired. */
  async tick(): Promise<ExpiredRow[]> {
    const expired: ExpiredRow[] = [];
    const groups = [...(await this.databaseGroups())];
    // Databases are swept side by side (16 at a time): a slow one never delays the others.
    for (let i = 0; i < groups.length; i += 16) {
      const rows = await Promise.all(
        groups
          .slice(i, i + 16)
          .map(([identity, tenantIds]) => this.sweepGroup(identity, tenantIds)),
      );
      for (const list of rows) expired.push(...list);
    }
    for (const row of expired) {
      this.cache.evict(row.tenant_id, row.id);
      this.sessions.emitEnded(
        Object.assign(new LocationSessionEntity(), {
          id: row.id,
          tenantId: row.tenant_id,
          userId: row.user_id,
        }),
        'expired',
      );
    }
    return expired;
  }

  /** One statement for one database; another tenant of it stands in if one fails. */
  private async sweepGroup(identity: string, tenantIds: string[]): Promise<ExpiredRow[]> {
    const backoff = this.backoff.get(identity);
    if (backoff && backoff.until > Date.now()) return [];
    let failure: unknown;
    for (let i = 0; i < Math.min(3, tenantIds.length); i++) {
      try {
        const rows = await this.sweep(tenantIds[0]);
        this.backoff.delete(identity);
        return rows;
      } catch (error) {
        failure = error;
        tenantIds.push(tenantIds.shift()!);
      }
    }
    // A database that does not answer is tried again later, backing off up to 5 min.
    const delay = Math.min((backoff?.delayMs ?? 5_000) * 2, 5 * 60_000);
    this.backoff.set(identity, { until: Date.now() + delay, delayMs: delay });
    if (!backoff) this.logger.warn({ err: failure }, 'Session expiry failed for a tenant database');
    return [];
  }

  private sweep(tenantId: string): Promise<ExpiredRow[]> {
    return this.tenantDb.runFor(tenantId, async (manager) => {
      await manager.query(`select set_config('${LOCATION_SWEEP_SETTING}', 'on', true)`);
      const [rows] = await manager.query<[ExpiredRow[], number]>(
        `with due as (
           select id from location_sessions
            where status = 'active' and expires_at <= now()
            order by expires_at
            limit 5000
            for update skip locked)
         update location_sessions s
            set status = 'expired', ended_at = s.expires_at,
                duration_seconds = greatest(0, floor(extract(epoch from s.expires_at - s.started_at)))::int
           from due where s.id = due.id
         returning s.id, s.tenant_id, s.user_id`,
      );
      return rows;
    });
  }

  /**
   * Tenants grouped by database identity, regrouped every 10 s in the background (resolving a
   * thousand tenants' secrets never holds a tick up); only the first grouping is waited for.
   */
  private async databaseGroups(): Promise<Map<string, string[]>> {
    const stale = Date.now() - this.groups.at >= 10_000;
    if (stale && !this.regrouping) {
      this.regrouping = this.regroup().finally(() => (this.regrouping = null));
    }
    if (this.groups.at === 0 && this.regrouping) await this.regrouping;
    return this.groups.byIdentity;
  }

  private async regroup(): Promise<void> {
    const byIdentity = new Map<string, string[]>();
    const tenants = await this.tenants.liveIds();
    for (let i = 0; i < tenants.length; i += 32) {
      await Promise.all(
        tenants.slice(i, i + 32).map(async (tenant) => {
          try {
            const { secret } = await this.tenantDb.poolOf(tenant.id);
            const group = byIdentity.get(secret.identityKey) ?? [];
            group.push(tenant.id);
            byIdentity.set(secret.identityKey, group);
          } catch {
            // A tenant whose secret cannot be read now is picked up at the next regroup.
          }
        }),
      );
    }
    this.groups = { at: Date.now(), byIdentity };
  }
}
