export { ApiKeysService } from './api-keys.service';
export {
  AUDIT_ACTIONS,
  type AuditAction,
  type AuditDetails,
  TENANT_AUDIT_RECORDED,
  TenantAuditRecordedEvent,
  urlOrigin,
} from './audit/tenant-audit.actions';
export { TenantAuditTrail } from './audit/tenant-audit.service';
export { TenantDatabase } from './database/tenant-database.service';
export { TenantMigrationsRunner } from './database/tenant-migrations.runner';
export { invalidTenantId, otherTenant, tenantNotFound } from './tenancy.errors';
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
export { TenantsService } from './tenants.service';
