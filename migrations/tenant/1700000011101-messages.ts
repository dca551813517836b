import type { MigrationInterface, QueryRunner } from 'typeorm';
import { CURRENT_TENANT_SQL, enableTenantRls } from './tenant-rls';

/**
 * Messaging: `messages` partitioned by tenant (one LIST partition per tenant, made by
 * `messaging_ensure_partition`, which the runtime role may call only for the tenant of its
 * transaction) and the publish outbox. RLS on the parent, and on every partition the function
 * makes, so a partition reached directly is as closed as the parent.
 */
export class Messages1700000011101 implements MigrationInterface {
  name = 'Messages1700000011101';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      create table if not exists messages (
        id uuid not null default gen_random_uuid(),
        tenant_id uuid not null default ${CURRENT_TENANT_SQL},
        queue_name text not null check (queue_name ~ '^[a-z0-9_-]{1,64}$'),
        payload jsonb not null,
        status text not null default 'queued'
          check (status in ('queued', 'processing', 'processed', 'failed')),
        attempts integer not null default 0,
        last_error text,
        idempotency_key text check (length(idempotency_key) between 1 and 200),
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now(),
        processed_at timestamptz,
        primary key (tenant_id, id)
      ) partition by list (tenant_id)`);
    await db.query(
      `create unique index if not exists messages_idempotency_key on messages (tenant_id, idempotency_key)`,
    );
    await db.query(
      `create index if not exists messages_list_idx on messages (tenant_id, created_at desc, id desc)`,
    );
    await db.query(
      `create index if not exists messages_queue_list_idx on messages (tenant_id, queue_name, created_at desc, id desc)`,
    );
    await enableTenantRls(db, 'messages');

    await db.query(`
      create table if not exists message_outbox (
        tenant_id uuid not null default ${CURRENT_TENANT_SQL},
        message_id uuid not null,
        queue_name text not null,
        created_at timestamptz not null default now(),
        primary key (tenant_id, message_id)
      )`);
    await db.query(
      `create index if not exists message_outbox_age_idx on message_outbox (tenant_id, created_at)`,
    );
    await enableTenantRls(db, 'message_outbox');

    // Owned by the migrating role: creates a partition (as its owner) for the transaction's tenant only.
    await db.query(`
      create or replace function messaging_ensure_partition(p_tenant uuid) returns boolean
      language plpgsql security definer set search_path = public as $fn$
      declare
        part text := 'messages_' || replace(p_tenant::text, '-', '');
      begin
        if p_tenant is null or p_tenant is distinct from ${CURRENT_TENANT_SQL} then
          raise exception 'messaging_ensure_partition: only for the tenant of this transaction'
            using errcode = '42501';
        end if;
        if to_regclass(part) is not null then
          return false;
        end if;
        execute format('create table if not exists %I partition of messages for values in (%L)', part, p_tenant);
        execute format('alter table %I enable row level security', part);
        execute format('alter table %I force row level security', part);
        execute format('drop policy if exists tenant_isolation on %I', part);
        execute format(
          'create policy tenant_isolation on %I using (tenant_id = ${CURRENT_TENANT_SQL.replace(/'/g, "''")}) with check (tenant_id = ${CURRENT_TENANT_SQL.replace(/'/g, "''")})',
          part);
        return true;
      exception when duplicate_table or unique_violation then
        return false;
      end
      $fn$`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('drop function if exists messaging_ensure_partition(uuid)');
    await db.query('drop table if exists message_outbox');
    await db.query('drop table if exists messages');
  }
}
