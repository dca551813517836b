import { counter, gauge, histogram } from '../../shared/metrics';

// Lookups, fetches and retries are a tenant's (tenant_id, bounded by tenantLabel); evictions and
// pools are not: a pool serves every tenant of one database identity.

export const secretLookups = counter({
  name: 'tessera_tenant_secret_cache_lookups_total',
  help: 'Tenant secret cache lookups by result (hit, miss, coalesced onto an in-flight fetch)',
  labelNames: ['result', 'tenant_id'] as const,
});
export const secretFetchSeconds = histogram({
  name: 'tessera_tenant_secret_fetch_seconds',
  help: 'Secrets Manager reads of tenant secrets by outcome (found, missing, invalid, error, stale)',
  labelNames: ['outcome', 'tenant_id'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
});
export const secretEvictions = counter({
  name: 'tessera_tenant_secret_cache_evictions_total',
  help: 'Tenant secrets evicted from the cache because it was full',
});

/** What the gauges read when /metrics is scraped (every live app instance in this process). */
export interface TenancyGaugeSource {
  gauges(): {
    secrets: number;
    negative: number;
    pools: number;
    inUse: number;
    idle: number;
    waiting: number;
  };
}
export const gaugeSources = new Set<TenancyGaugeSource>();

function sum(pick: (g: ReturnType<TenancyGaugeSource['gauges']>) => number): number {
  let total = 0;
  for (const source of gaugeSources) total += pick(source.gauges());
  return total;
}

gauge({
  name: 'tessera_tenant_secret_cache_size',
  help: 'Entries in the tenant secret cache (negative entries included)',
  collect() {
    this.set(sum((g) => g.secrets));
  },
});
gauge({
  name: 'tessera_tenant_secret_cache_negative_entries',
  help: 'Negative entries (unknown tenant or missing secret) in the tenant secret cache',
  collect() {
    this.set(sum((g) => g.negative));
  },
});
export const poolEvents = counter({
  name: 'tessera_tenant_pool_events_total',
  help: 'Tenant connection pools created, evicted (LRU bound), expired (idle) and closed',
  labelNames: ['event'] as const,
});
gauge({
  name: 'tessera_tenant_pools',
  help: 'Open tenant connection pools',
  collect() {
    this.set(sum((g) => g.pools));
  },
});
gauge({
  name: 'tessera_tenant_pool_connections',
  help: 'Connections of all tenant pools by state (in_use, idle, waiting requests)',
  labelNames: ['state'] as const,
  collect() {
    this.set(
      { state: 'in_use' },
      sum((g) => g.inUse),
    );
    this.set(
      { state: 'idle' },
      sum((g) => g.idle),
    );
    this.set(
      { state: 'waiting' },
      sum((g) => g.waiting),
    );
  },
});
export const credentialRetries = counter({
  name: 'tessera_tenant_credential_retries_total',
  help: 'Units of work retried once after an authentication failure (rotated credentials)',
  labelNames: ['tenant_id'] as const,
});

/** Keeps the last `size` samples to answer p50/p99 exactly over a recent window. */
export class LatencyWindow {
  private readonly samples: number[] = [];
  private next = 0;

  constructor(private readonly size = 1_000) {}

  add(ms: number): void {
    if (this.samples.length < this.size) this.samples.push(ms);
    else this.samples[this.next] = ms;
    this.next = (this.next + 1) % this.size;
  }

  quantiles(): { p50: number | null; p99: number | null; samples: number } {
    if (!this.samples.length) return { p50: null, p99: null, samples: 0 };
    const sorted = [...this.samples].sort((a, b) => a - b);
    const at = (q: number) =>
      round(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]);
    return { p50: at(0.5), p99: at(0.99), samples: sorted.length };
  }
}

export function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
