import { defineErrorCodes } from '../../shared/errors';

/** Every code the tenancy module answers with, and its HTTP status. */
export const tenancyError = defineErrorCodes({
  'TENANCY.INVALID_TENANT_ID': 400,
  'TENANCY.INVALID_SECRET': 400,
  'TENANCY.TENANT_NOT_FOUND': 404,
  'TENANCY.API_KEY_NOT_FOUND': 404,
  'TENANCY.OTHER_TENANT': 403,
  'TENANCY.NAME_TAKEN': 409,
  'TENANCY.TENANT_NOT_ACTIVE': 409,
  'TENANCY.NO_TRANSACTION': 500,
  'TENANCY.PROVISIONING_FAILED': 503,
  'TENANCY.SECRETS_UNAVAILABLE': 503,
  'TENANCY.DELETION_INCOMPLETE': 503,
  'TENANCY.DATABASE_UNAVAILABLE': 503,
});

/** A tenant id that is not a uuid, wherever it came from (path, body, X-Tenant-ID): 400. */
export const invalidTenantId = (message = 'A tenant id is a uuid') =>
  tenancyError('TENANCY.INVALID_TENANT_ID', message);

/**
 * The one answer when a request names another tenant than the caller's (a path or body id, an API
 * key's tenant against X-Tenant-ID, two tenants at once), whichever module is asked: 403
 * `TENANCY.OTHER_TENANT`. Platform admins may name any tenant where a route allows it.
 */
export const otherTenant = (message: string, details?: unknown[]) =>
  tenancyError('TENANCY.OTHER_TENANT', message, details);

/**
 * The one answer for a tenant id that names no tenant (or a deleted one), whichever module is
 * asked: 404 `TENANCY.TENANT_NOT_FOUND`.
 */
export const tenantNotFound = (tenantId: string) =>
  tenancyError('TENANCY.TENANT_NOT_FOUND', `Tenant ${tenantId} not found`);
