export { type ApiKeyPrincipal, ApiKeysService, type IssuedApiKey } from './api-keys.service';
export { tenancyError } from './tenancy.errors';
export {
  TENANT_DELETING,
  TENANT_PROVISIONED,
  TenantDeletingEvent,
  TenantProvisionedEvent,
} from './tenancy.events';
export { TenancyModule } from './tenancy.module';
export type { TenantStatus } from './tenant.entity';
export { TenantDatabase } from './tenant-database.service';
export { type TenantMigrationReport, TenantMigrationsRunner } from './tenant-migrations.runner';
export { type TenantPage, TenantsService, type TenantView } from './tenants.service';
