import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Why a tenant's provisioning failed (shown to platform admins; cleared by a successful retry). */
export class TenantProvisioning1700000003001 implements MigrationInterface {
  name = 'TenantProvisioning1700000003001';

  async up(db: QueryRunner): Promise<void> {
    await db.query('alter table tenants add column if not exists provisioning_error text');
    await db.query(
      'create index if not exists tenant_api_keys_live_idx on tenant_api_keys (tenant_id) where revoked_at is null',
    );
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('drop index if exists tenant_api_keys_live_idx');
    await db.query('alter table tenants drop column if exists provisioning_error');
  }
}
