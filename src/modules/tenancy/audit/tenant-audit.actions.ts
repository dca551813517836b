/**
 * Every action the tenant audit trail records: what a tenant's owners may read back at
 * `GET /tenant/audit` (and filter by). Details are flat ids, names and flags: never a secret, a
 * token, a URL's path or query, or a message payload.
 */
export const AUDIT_ACTIONS = [
  'tenant.provisioned',
  'tenant.updated',
  'api_key.created',
  'api_key.revoked',
  'auth.login',
  'user.added',
  'user.role_changed',
  'user.removed',
  'delivery.target_changed',
  'queue.scaled',
  'queue.configured',
  'message.retried',
  'location_update.retried',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** Flat values only: a nested object could carry a payload (undefined ones are left out). */
export type AuditDetails = Record<string, string | number | boolean | null | undefined>;

/** Emitted after an audit row was stored (the feed pushes it to the tenant's owners). */
export const TENANT_AUDIT_RECORDED = 'tenancy.audit.recorded';

/** Payload of `tenancy.audit.recorded`. */
export class TenantAuditRecordedEvent {
  constructor(
    readonly tenantId: string,
    readonly id: string,
    readonly action: AuditAction,
    readonly actor: string | null,
    readonly details: AuditDetails,
    readonly createdAt: string,
  ) {}
}

/** The scheme and host of a URL (its path and query may carry credentials): what the trail keeps. */
export function urlOrigin(url: string | null | undefined): string | null {
  if (!url) return null;
  try {
    return new URL(url).origin;
  } catch {
    return null;
  }
}
