export { counter, gauge, histogram } from './metrics';
export { MetricsServer } from './metrics-server';
export { MetricsModule } from './metrics.module';
export {
  configureTenantSeries,
  contextTenantLabel,
  DEFAULT_TENANT_SERIES_MAX,
  NO_TENANT,
  OTHER_TENANT,
  tenantLabel,
  TenantSeries,
} from './tenant-series';
