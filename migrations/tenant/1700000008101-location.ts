import type { MigrationInterface, QueryRunner } from 'typeorm';
import { CURRENT_TENANT_SQL, enableTenantRls } from './tenant-rls';

/** The expiry job's transaction sets this (transaction-local) to end due sessions of every tenant of a database at once. */
export const LOCATION_SWEEP_SETTING = 'app.location_sweep';
const SWEEPING = `current_setting('${LOCATION_SWEEP_SETTING}', true) = 'on'`;

/**
 * Tracking sessions and the locations recorded in them. Both tables are tenant tables (RLS
 * enabled and forced). One extra pair of policies lets the expiry job see and expire the due
 * sessions of every tenant sharing this database in one statement — only rows that are active
 * and past `expires_at`, only to `expired`, and only inside a transaction that set the sweep flag.
 */
export class Location1700000008101 implements MigrationInterface {
  name = 'Location1700000008101';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      create table if not exists location_sessions (
        id uuid primary key default gen_random_uuid(),
        tenant_id uuid not null default ${CURRENT_TENANT_SQL},
        user_id text not null check (length(user_id) between 1 and 200),
        status text not null default 'active'
          check (status in ('active', 'ended', 'expired', 'cancelled')),
        started_at timestamptz not null default now(),
        expires_at timestamptz not null,
        ended_at timestamptz,
        duration_seconds integer not null check (duration_seconds >= 0),
        device_info jsonb
      )`);
    await db.query(
      `create unique index if not exists location_sessions_one_active
         on location_sessions (tenant_id, user_id) where status = 'active'`,
    );
    await db.query(
      `create index if not exists location_sessions_user_idx
         on location_sessions (tenant_id, user_id, started_at desc, id desc)`,
    );
    await db.query(
      `create index if not exists location_sessions_tenant_idx
         on location_sessions (tenant_id, started_at desc, id desc)`,
    );
    await db.query(
      `create index if not exists location_sessions_due_idx
         on location_sessions (expires_at) where status = 'active'`,
    );
    await enableTenantRls(db, 'location_sessions');
    await db.query('drop policy if exists location_sweep_select on location_sessions');
    await db.query(
      `create policy location_sweep_select on location_sessions for select
         using (${SWEEPING} and status in ('active', 'expired') and expires_at <= now())`,
    );
    await db.query('drop policy if exists location_sweep_update on location_sessions');
    await db.query(
      `create policy location_sweep_update on location_sessions for update
         using (${SWEEPING} and status = 'active' and expires_at <= now())
         with check (${SWEEPING} and status = 'expired')`,
    );

    await db.query(`
      create table if not exists locations (
        event_id uuid primary key,
        tenant_id uuid not null default ${CURRENT_TENANT_SQL},
        session_id uuid not null,
        user_id text not null,
        latitude double precision not null check (latitude between -90 and 90),
        longitude double precision not null check (longitude between -180 and 180),
        accuracy double precision check (accuracy >= 0),
        recorded_at timestamptz not null,
        received_at timestamptz not null default now()
      )`);
    await db.query(
      `create index if not exists locations_session_idx
         on locations (tenant_id, session_id, recorded_at, event_id)`,
    );
    await enableTenantRls(db, 'locations');
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('drop table if exists locations');
    await db.query('drop table if exists location_sessions');
  }
}
