import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The location retry ledger (one poller serves every tenant, so it lives here; every route that
 * reads it filters by the caller's tenant) and each tenant's delivery target.
 */
export class LocationLedger1700000008001 implements MigrationInterface {
  name = 'LocationLedger1700000008001';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      create table if not exists failed_location_updates (
        id uuid primary key default gen_random_uuid(),
        tenant_id uuid not null references tenants (id) on delete cascade,
        event_id uuid not null unique,
        session_id uuid not null,
        user_id text not null,
        latitude double precision not null,
        longitude double precision not null,
        accuracy double precision,
        recorded_at timestamptz not null,
        payload jsonb not null,
        error_message text,
        last_status_code integer,
        attempts integer not null default 1,
        retry_count integer not null default 0,
        status text not null default 'pending'
          check (status in ('pending', 'retried', 'resolved', 'permanently_failed')),
        next_retry_at timestamptz,
        claimed_until timestamptz,
        claim_token uuid,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now(),
        resolved_at timestamptz
      )`);
    await db.query(
      `create index if not exists failed_location_updates_due_idx
         on failed_location_updates (next_retry_at)
         where status in ('pending', 'retried')`,
    );
    await db.query(
      `create index if not exists failed_location_updates_tenant_idx
         on failed_location_updates (tenant_id, created_at desc, id desc)`,
    );
    await db.query(`
      create table if not exists location_delivery_settings (
        tenant_id uuid primary key references tenants (id) on delete cascade,
        endpoint_url text,
        enabled boolean not null default true,
        signing_secret text,
        updated_at timestamptz not null default now()
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('drop table if exists location_delivery_settings');
    await db.query('drop table if exists failed_location_updates');
  }
}
