import { ClsServiceManager } from 'nestjs-cls';
import type { TenantContextStore } from '../tenant-context';

/** The `tenant_id` of work of the tenants past the cap: they share one series. */
export const OTHER_TENANT = 'other';
/** The `tenant_id` of work that has no tenant (a platform admin's call, a refusal before one is known). */
export const NO_TENANT = 'none';
export const DEFAULT_TENANT_SERIES_MAX = 100;

/**
 * Bounds the series a `tenant_id` label makes: the first `max` tenants this process sees get their
 * own value, every later one is counted under `other` (so a thousand tenants cost `max + 1` series
 * per metric and label set, not a thousand). A tenant keeps its value for the life of the process.
 */
export class TenantSeries {
  private readonly seen = new Set<string>();

  constructor(private max = DEFAULT_TENANT_SERIES_MAX) {}

  /** A lower cap keeps the tenants already labelled (their series exist), and takes no new one. */
  setMax(max: number): void {
    this.max = max;
  }

  label(tenantId: string | null | undefined): string {
    if (!tenantId) return NO_TENANT;
    if (this.seen.has(tenantId)) return tenantId;
    if (this.seen.size >= this.max) return OTHER_TENANT;
    this.seen.add(tenantId);
    return tenantId;
  }

  /** Tenants with a value of their own. */
  get size(): number {
    return this.seen.size;
  }
}

/** The one cap of the process (metrics are process-wide, like prom-client's registry). */
const series = new TenantSeries();

/** The `tenant_id` label value of every metric: the tenant, `other` past the cap, `none` without one. */
export function tenantLabel(tenantId: string | null | undefined): string {
  return series.label(tenantId);
}

/** Sets the cap (METRICS_TENANT_SERIES_MAX), at start. */
export function configureTenantSeries(max: number): void {
  series.setMax(max);
}

/** The label of the current unit of work's tenant (from the tenant context), `none` outside one. */
export function contextTenantLabel(): string {
  const cls = ClsServiceManager.getClsService();
  if (!cls.isActive()) return NO_TENANT;
  return tenantLabel(cls.get<TenantContextStore['principal']>('principal')?.tenantId);
}
