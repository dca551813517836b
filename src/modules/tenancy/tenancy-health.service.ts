import { Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { ApiKeysService } from './api-keys.service';
import { gaugeSources, type TenancyGaugeSource } from './tenancy.metrics';
import { TenantDatabase } from './database/tenant-database.service';
import type { PoolStats } from './database/tenant-pools.service';
import { TenantPoolsService } from './database/tenant-pools.service';
import { TenantSecretsService } from './database/tenant-secrets.service';
import { TenantsService } from './tenants.service';

export interface TenantHealth {
  tenant_id: string;
  name: string;
  status: string;
  healthy: boolean;
  latency_ms: number;
  error?: string;
  secret_stale?: boolean;
  pool: PoolStats | null;
}

const PROBE_TIMEOUT_MS = 3_000;
const PROBE_CONCURRENCY = 8;

/** Per-tenant connection health and cache figures (for /health/tenants, /health/cache and /metrics). */
@Injectable()
export class TenancyHealthService implements TenancyGaugeSource, OnModuleInit, OnModuleDestroy {
  constructor(
    private readonly tenants: TenantsService,
    private readonly tenantDb: TenantDatabase,
    private readonly secrets: TenantSecretsService,
    private readonly pools: TenantPoolsService,
    private readonly apiKeys: ApiKeysService,
  ) {}

  onModuleInit(): void {
    gaugeSources.add(this);
  }

  onModuleDestroy(): void {
    gaugeSources.delete(this);
  }

  async all() {
    const tenants = await this.tenants.liveIds();
    const results: TenantHealth[] = [];
    for (let i = 0; i < tenants.length; i += PROBE_CONCURRENCY) {
      const batch = tenants.slice(i, i + PROBE_CONCURRENCY);
      results.push(...(await Promise.all(batch.map((t) => this.probe(t.id, t.name, t.status)))));
    }
    const healthy = results.filter((r) => r.healthy).length;
    return {
      summary: {
        total: results.length,
        healthy,
        unhealthy: results.length - healthy,
        pools: this.pools.stats().size,
      },
      tenants: results,
    };
  }

  async probe(tenantId: string, name: string, status: string): Promise<TenantHealth> {
    const started = performance.now();
    let error: string | undefined;
    try {
      await withTimeout(
        this.tenantDb.runFor(tenantId, (manager) => manager.query('select 1')),
        PROBE_TIMEOUT_MS,
      );
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
    }
    const latency = Math.round((performance.now() - started) * 10) / 10;
    let pool: PoolStats | null = null;
    let stale: boolean | undefined;
    try {
      const of = await this.tenantDb.poolOf(tenantId);
      pool = of.pool;
      stale = of.secret.stale || undefined;
    } catch {
      // no secret: reported through `error`
    }
    return {
      tenant_id: tenantId,
      name,
      status,
      healthy: !error,
      latency_ms: latency,
      ...(error ? { error } : {}),
      ...(stale ? { secret_stale: true } : {}),
      pool,
    };
  }

  cache() {
    return {
      secrets: this.secrets.stats(),
      pools: this.pools.stats(),
      api_keys: { cached: this.apiKeys.cacheSize() },
    };
  }

  gauges() {
    const secrets = this.secrets.stats();
    const pools = this.pools.stats();
    return {
      secrets: secrets.size,
      negative: secrets.negative_entries,
      pools: pools.size,
      inUse: pools.connections.in_use,
      idle: pools.connections.idle,
      waiting: pools.connections.waiting,
    };
  }
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
