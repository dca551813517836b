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
