import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { LOCATION_SWEEP_SETTING } from '../../../migrations/tenant/1700000008101-location';
import { locationConfig, type LocationConfig } from '../../config';
import { TenantDatabase, TenantsService } from '../tenancy';
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
  }

  /** One pass: returns the sessions it expired. */
  async tick(): Promise<ExpiredRow[]> {
    const expired: ExpiredRow[] = [];
    for (const [identity, tenantIds] of await this.databaseGroups()) {
      const backoff = this.backoff.get(identity);
      if (backoff && backoff.until > Date.now()) continue;
      // One statement per database; another tenant of the same database stands in if one fails.
      let swept = false;
      let failure: unknown;
      for (let i = 0; i < Math.min(3, tenantIds.length) && !swept; i++) {
        try {
          expired.push(...(await this.sweep(tenantIds[0])));
          swept = true;
        } catch (error) {
          failure = error;
          tenantIds.push(tenantIds.shift()!);
        }
      }
      if (swept) {
        this.backoff.delete(identity);
        continue;
      }
      // A database that does not answer is tried again later, backing off up to 5 min.
      const delay = Math.min((backoff?.delayMs ?? 5_000) * 2, 5 * 60_000);
      this.backoff.set(identity, { until: Date.now() + delay, delayMs: delay });
      if (!backoff)
        this.logger.warn({ err: failure }, 'Session expiry failed for a tenant database');
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

  /** Tenants grouped by database identity (regrouped every 10 s): the sweep runs once per database. */
  private async databaseGroups(): Promise<Map<string, string[]>> {
    if (Date.now() - this.groups.at < 10_000) return this.groups.byIdentity;
    const byIdentity = new Map<string, string[]>();
    for (const tenant of await this.tenants.liveIds()) {
      try {
        const { secret } = await this.tenantDb.poolOf(tenant.id);
        const group = byIdentity.get(secret.identityKey) ?? [];
        group.push(tenant.id);
        byIdentity.set(secret.identityKey, group);
      } catch {
        // A tenant whose secret cannot be read now is picked up at the next regroup.
      }
    }
    this.groups = { at: Date.now(), byIdentity };
    return byIdentity;
  }
}
