import { Inject, Injectable } from '@nestjs/common';
import { locationConfig, type LocationConfig } from '../../../config';
import { TenantDatabase } from '../../tenancy';
import { LocationSessionEntity, type SessionStatus } from './location-session.entity';

export interface CachedSession {
  id: string;
  tenantId: string;
  userId: string;
  status: SessionStatus;
  startedAt: number;
  expiresAt: number;
}

interface Entry {
  session: CachedSession | null;
  until: number;
}

/**
 * The hot path's session check without a tenant transaction per update. A session row is read
 * once and served from memory for `LOCATION_SESSION_CACHE_MS` (default 2 s); `expires_at` is
 * checked on every use, so expiry is exact. A stop on this instance evicts at once; a stop on
 * another instance stops this instance's updates within the cache time. Ended/expired sessions
 * never become active again, so they are cached as long. Concurrent misses share one read.
 */
@Injectable()
export class SessionCache {
  private readonly entries = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<CachedSession | null>>();
  private readonly ttlMs: number;
  private static readonly MAX = 100_000;

  constructor(
    private readonly tenantDb: TenantDatabase,
    @Inject(locationConfig.KEY) config: LocationConfig,
  ) {
    this.ttlMs = config.sessionCacheMs;
  }

  async get(tenantId: string, sessionId: string): Promise<CachedSession | null> {
    const key = `${tenantId}:${sessionId}`;
    const now = Date.now();
    const hit = this.entries.get(key);
    if (hit && hit.until > now) return hit.session;
    const pending = this.loading.get(key);
    if (pending) return pending;
    const load = this.load(tenantId, sessionId)
      .then((session) => {
        if (this.ttlMs > 0) {
          if (this.entries.size >= SessionCache.MAX) this.entries.clear();
          // Unknown ids are not cached: a session started a moment ago must be usable at once.
          if (session) this.entries.set(key, { session, until: Date.now() + this.ttlMs });
        }
        return session;
      })
      .finally(() => this.loading.delete(key));
    this.loading.set(key, load);
    return load;
  }

  evict(tenantId: string, sessionId: string): void {
    this.entries.delete(`${tenantId}:${sessionId}`);
  }

  private load(tenantId: string, sessionId: string): Promise<CachedSession | null> {
    return this.tenantDb.runFor(tenantId, async (manager) => {
      const row = await manager.getRepository(LocationSessionEntity).findOneBy({ id: sessionId });
      return row
        ? {
            id: row.id,
            tenantId: row.tenantId,
            userId: row.userId,
            status: row.status,
            startedAt: row.startedAt.getTime(),
            expiresAt: row.expiresAt.getTime(),
          }
        : null;
    });
  }
}
