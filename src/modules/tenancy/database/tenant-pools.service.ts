import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import type { Pool } from 'pg';
import { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { tenancyConfig, type TenancyConfig } from '../../../config';
import { pgSslOptions } from '../../../shared/database';
import { poolEvents } from '../tenancy.metrics';
import { tenantEntities } from './tenant-entities';
import type { ConnectionIdentity, TenantSecret } from './tenant-secret';

interface PoolEntry {
  key: string;
  identity: ConnectionIdentity;
  /** Read by pg at every new connection: a rotated password applies without rebuilding the pool. */
  password: string;
  /** fetchedAt of the secret the password came from: an older secret never overwrites it. */
  passwordAt: number;
  max: number;
  dataSource: DataSource;
  leases: number;
  retired: boolean;
  closing?: Promise<void>;
  createdAt: number;
}

export interface PoolStats {
  host: string;
  port: number;
  database: string;
  user: string;
  max: number;
  total: number;
  in_use: number;
  idle: number;
  waiting: number;
  leases: number;
}

/**
 * Connection pools keyed by connection identity (host, port, database, user), shared by every
 * tenant whose secret points there. LRU-bounded and evicted after idle time; an evicted pool is
 * closed only once its last lease (a running unit of work) is returned.
 */
@Injectable()
export class TenantPoolsService implements OnApplicationShutdown {
  private readonly logger = new Logger(TenantPoolsService.name);
  private readonly pools: LRUCache<string, PoolEntry>;
  private readonly opening = new Map<string, Promise<PoolEntry>>();
  private readonly closing = new Set<Promise<void>>();
  private readonly counts = { created: 0, evicted: 0, expired: 0, closed: 0 };

  constructor(@Inject(tenancyConfig.KEY) private readonly config: TenancyConfig) {
    this.pools = new LRUCache<string, PoolEntry>({
      max: config.poolCache.max,
      ttl: config.poolCache.idleEvictMs,
      updateAgeOnGet: true,
      ttlAutopurge: true,
      dispose: (entry, _key, reason) => this.retire(entry, reason),
    });
  }

  /** Runs `work` with the tenant's pool leased: the pool is not closed before `work` settles. */
  async withDataSource<T>(
    secret: TenantSecret,
    work: (dataSource: DataSource) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 0; ; attempt += 1) {
      const entry = this.pools.get(secret.identityKey) ?? (await this.open(secret));
      // Evicted and already closing before this caller could lease it: take (or open) the current one.
      if (entry.closing && attempt < 3) continue;
      entry.leases += 1;
      if (secret.fetchedAt > entry.passwordAt) {
        entry.password = secret.password;
        entry.passwordAt = secret.fetchedAt;
      }
      try {
        return await work(entry.dataSource);
      } finally {
        entry.leases -= 1;
        if (entry.retired && entry.leases === 0) this.close(entry);
      }
    }
  }

  /** Concurrent first uses of an identity share one creation (singleflight). */
  private open(secret: TenantSecret): Promise<PoolEntry> {
    const key = secret.identityKey;
    let opening = this.opening.get(key);
    if (!opening) {
      opening = this.create(secret)
        .then((entry) => {
          this.pools.set(key, entry);
          return entry;
        })
        .finally(() => this.opening.delete(key));
      this.opening.set(key, opening);
    }
    return opening;
  }

  /** Pool figures of the pool a tenant's secret points at (null when none is open). */
  statsFor(secret: TenantSecret): PoolStats | null {
    const entry = this.pools.peek(secret.identityKey);
    return entry ? this.entryStats(entry) : null;
  }

  stats() {
    const pools = [...this.pools.values()].map((entry) => this.entryStats(entry));
    return {
      size: this.pools.size,
      max: this.config.poolCache.max,
      idle_evict_ms: this.config.poolCache.idleEvictMs,
      created: this.counts.created,
      evictions: this.counts.evicted,
      expirations: this.counts.expired,
      closed: this.counts.closed,
      connections: pools.reduce(
        (sum, p) => ({
          total: sum.total + p.total,
          in_use: sum.in_use + p.in_use,
          idle: sum.idle + p.idle,
          waiting: sum.waiting + p.waiting,
        }),
        { total: 0, in_use: 0, idle: 0, waiting: 0 },
      ),
      pools,
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled([...this.opening.values()]);
    this.pools.clear();
    await Promise.allSettled([...this.closing]);
  }

  private async create(secret: TenantSecret): Promise<PoolEntry> {
    const max = secret.pool.max ?? this.config.pool.connections;
    const entry: PoolEntry = {
      key: secret.identityKey,
      identity: secret.identity,
      password: secret.password,
      passwordAt: secret.fetchedAt,
      max,
      leases: 0,
      retired: false,
      createdAt: Date.now(),
      dataSource: undefined as unknown as DataSource,
    };
    entry.dataSource = new DataSource({
      type: 'postgres',
      host: secret.identity.host,
      port: secret.identity.port,
      database: secret.identity.database,
      username: secret.identity.username,
      ssl: pgSslOptions(secret.tls),
      entities: tenantEntities(),
      synchronize: false,
      applicationName: 'tessera-tenant',
      extra: {
        max,
        password: () => entry.password,
        idleTimeoutMillis: secret.pool.idleTimeoutMs ?? this.config.pool.idleTimeoutMs,
        connectionTimeoutMillis: 5_000,
        statement_timeout: this.config.pool.statementTimeoutMs,
      },
    });
    await entry.dataSource.initialize();
    this.counts.created += 1;
    poolEvents.inc({ event: 'created' });
    this.logger.log(`Opened tenant pool ${secret.identityKey} (max ${max})`);
    return entry;
  }

  private retire(entry: PoolEntry, reason: LRUCache.DisposeReason): void {
    if (reason === 'evict') this.counts.evicted += 1;
    if (reason === 'expire') this.counts.expired += 1;
    if (reason === 'evict' || reason === 'expire')
      poolEvents.inc({ event: reason === 'evict' ? 'evicted' : 'expired' });
    entry.retired = true;
    if (entry.leases === 0) this.close(entry);
  }

  private close(entry: PoolEntry): void {
    if (entry.closing) return;
    const closing = entry.dataSource
      .destroy()
      .then(() => {
        this.counts.closed += 1;
        poolEvents.inc({ event: 'closed' });
      })
      .catch((error: unknown) =>
        this.logger.warn(`Closing pool ${entry.key} failed: ${String(error)}`),
      )
      .finally(() => this.closing.delete(closing));
    entry.closing = closing;
    this.closing.add(closing);
  }

  private entryStats(entry: PoolEntry): PoolStats {
    const pool = (entry.dataSource.driver as PostgresDriver).master as Pool | undefined;
    const total = pool?.totalCount ?? 0;
    const idle = pool?.idleCount ?? 0;
    return {
      host: entry.identity.host,
      port: entry.identity.port,
      database: entry.identity.database,
      user: entry.identity.username,
      max: entry.max,
      total,
      in_use: total - idle,
      idle,
      waiting: pool?.waitingCount ?? 0,
      leases: entry.leases,
    };
  }
}
