import type { MigrationInterface, QueryRunner } from 'typeorm';
import { CURRENT_TENANT_SQL, enableTenantRls } from './tenant-rls';

/**
 * The tenant's event feed, and the per-tenant counter that hands out `seq`. An ingestion locks
 * the tenant's counter row inside its transaction, so a tenant's inserts commit in `seq` order
 * and a rolled-back one leaves no hole.
 */
export class TenantEvents1700000010101 implements MigrationInterface {
  name = 'TenantEvents1700000010101';

  async up(db: QueryRunner): Promise<void> {
    await db.query('create extension if not exists pg_trgm');
    await db.query(`
      create table if not exists events (
        id uuid primary key default gen_random_uuid(),
        tenant_id uuid not null default ${CURRENT_TENANT_SQL},
        seq bigint not null,
        event_type text not null check (event_type ~ '^[A-Za-z0-9_.-]{1,100}$'),
        source text not null check (length(source) between 1 and 100),
        client_event_id text check (length(client_event_id) between 1 and 200),
        timestamp timestamptz not null,
        metadata jsonb not null default '{}'::jsonb,
        created_at timestamptz not null default now()
      )`);
    await db.query('create unique index if not exists events_seq_idx on events (tenant_id, seq)');
    await db.query(
      `create unique index if not exists events_client_id_idx on events (tenant_id, client_event_id)
         where client_event_id is not null`,
    );
    await db.query(
      'create index if not exists events_time_idx on events (tenant_id, timestamp desc, seq desc) include (event_type)',
    );
    await db.query(
      'create index if not exists events_type_time_idx on events (tenant_id, event_type, timestamp desc, seq desc)',
    );
    await db.query(
      'create index if not exists events_source_time_idx on events (tenant_id, source, timestamp desc, seq desc)',
    );
    await db.query(
      'create index if not exists events_metadata_trgm_idx on events using gin ((metadata::text) gin_trgm_ops)',
    );
    await enableTenantRls(db, 'events');

    await db.query(`
      create table if not exists event_seqs (
        tenant_id uuid primary key default ${CURRENT_TENANT_SQL},
        seq bigint not null default 0
      )`);
    await enableTenantRls(db, 'event_seqs');
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('drop table if exists event_seqs');
    await db.query('drop table if exists events');
  }
}
