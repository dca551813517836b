export { type ApiKeyPrincipal, ApiKeysService, type IssuedApiKey } from './api-keys.service';
export { invalidTenantId, tenantNotFound } from './tenancy.errors';
export {
  API_KEY_ISSUED,
  API_KEY_REVOKED,
  ApiKeyIssuedEvent,
  ApiKeyRevokedEvent,
  TENANT_DELETED,
  TENANT_DELETING,
  TENANT_PROVISIONED,
  TENANT_UPDATED,
  TenantDeletedEvent,
  TenantDeletingEvent,
  TenantProvisionedEvent,
  TenantUpdatedEvent,
} from './tenancy.events';
export { TenancyModule } from './tenancy.module';
export type { TenantStatus } from './tenant.entity';
export { TenantDatabase } from './database/tenant-database.service';
export {
  type TenantMigrationReport,
  TenantMigrationsRunner,
} from './database/tenant-migrations.runner';
export { type TenantPage, TenantsService, type TenantView } from './tenants.service';
