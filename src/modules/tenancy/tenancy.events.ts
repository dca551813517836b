/** Emitted (awaited) once a tenant's secret, schema and first API key exist. */
export const TENANT_PROVISIONED = 'tenant.provisioned';
/** Emitted (awaited) before a tenant is marked deleted: drain and stop its work. */
export const TENANT_DELETING = 'tenant.deleting';

/** Payload of `tenant.provisioned`. Handlers must be idempotent: a failed provisioning is retried. */
export class TenantProvisionedEvent {
  constructor(
    readonly tenantId: string,
    readonly name: string,
    readonly concurrencyConfig: number,
  ) {}
}

/** Payload of `tenant.deleting`. The tenant is marked deleted only after every handler resolved. */
export class TenantDeletingEvent {
  constructor(
    readonly tenantId: string,
    readonly name: string,
  ) {}
}

/** Emitted after a tenant's name or self sign-up setting changed (committed). */
export const TENANT_UPDATED = 'tenancy.tenant.updated';
/** Emitted after a tenant is marked deleted (its keys revoked, its sessions ended). */
export const TENANT_DELETED = 'tenancy.tenant.deleted';
/** Emitted after an API key of the tenant was issued. */
export const API_KEY_ISSUED = 'tenancy.api_key.issued';
/** Emitted after an API key of the tenant was revoked (one event per key, deletion included). */
export const API_KEY_REVOKED = 'tenancy.api_key.revoked';

/** Payload of `tenancy.tenant.updated`: `changes` names the fields the update set. */
export class TenantUpdatedEvent {
  constructor(
    readonly tenantId: string,
    readonly name: string,
    readonly changes: string[],
  ) {}
}

/** Payload of `tenancy.tenant.deleted`. */
export class TenantDeletedEvent {
  constructor(readonly tenantId: string) {}
}

/** Payload of `tenancy.api_key.issued`. */
export class ApiKeyIssuedEvent {
  constructor(
    readonly tenantId: string,
    readonly keyId: string,
  ) {}
}

/** Payload of `tenancy.api_key.revoked`. */
export class ApiKeyRevokedEvent {
  constructor(
    readonly tenantId: string,
    readonly keyId: string,
  ) {}
}
