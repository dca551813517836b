import type { MigrationInterface, QueryRunner } from 'typeorm';
import { CURRENT_TENANT_SQL, enableTenantRls } from './tenant-rls';

/** What happened to a tenant (provisioned, API key issued or revoked …), kept in the tenant's own database. */
export class TenantAuditEvents1700000003101 implements MigrationInterface {
  name = 'TenantAuditEvents1700000003101';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      create table if not exists tenant_audit_events (
        id uuid primary key default gen_random_uuid(),
        tenant_id uuid not null default ${CURRENT_TENANT_SQL},
        action text not null check (length(action) between 1 and 100),
        actor text,
        details jsonb not null default '{}'::jsonb,
        created_at timestamptz not null default now()
      )`);
    await db.query(
      'create index if not exists tenant_audit_events_tenant_idx on tenant_audit_events (tenant_id, created_at desc)',
    );
    await enableTenantRls(db, 'tenant_audit_events');
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('drop table if exists tenant_audit_events');
  }
}
