import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The messaging hot path as single statements: each function sets `app.tenant_id` for its own
 * statement's transaction (set_config(…, true), the same as `TenantDatabase.runFor` does) and
 * does its batch, so a publish batch or a claim batch is one round trip instead of four
 * (START TRANSACTION, set_config, the statement, COMMIT). SECURITY INVOKER: the caller's role,
 * with RLS forced as everywhere; `tenant_id = p_tenant` lets the planner pick the partition
 * (custom plans, so the value is known when planning).
 */
export class MessagingStatements1700000012101 implements MigrationInterface {
  name = 'MessagingStatements1700000012101';

  async up(db: QueryRunner): Promise<void> {
    const attributes = `language plpgsql security invoker
      set search_path = public set plan_cache_mode = force_custom_plan`;

    // New rows (and their outbox entries) of one tenant; then the earlier rows of the
    // idempotency keys that were taken (rows whose id is not one of p_ids).
    await db.query(`
      create or replace function messaging_store(
        p_tenant uuid, p_ids uuid[], p_queues text[], p_payloads text[], p_keys text[]
      ) returns setof messages ${attributes} as $fn$
      begin
        perform set_config('app.tenant_id', p_tenant::text, true);
        return query
          with inserted as (
            insert into messages as m (id, queue_name, payload, idempotency_key, created_at)
            select t.id, t.queue_name, t.payload::jsonb, t.idempotency_key, clock_timestamp()
              from unnest(p_ids, p_queues, p_payloads, p_keys)
                   with ordinality as t(id, queue_name, payload, idempotency_key, ord)
             order by t.ord
            on conflict (tenant_id, idempotency_key) do nothing
            returning m.*
          ), outbox as (
            insert into message_outbox (message_id, queue_name)
            select i.id, i.queue_name from inserted i
          )
          select * from inserted;
        return query
          select m.* from messages m
           where m.tenant_id = p_tenant and m.idempotency_key = any(p_keys) and m.id <> all(p_ids);
      end
      $fn$`);

    // Claims deliveries (p_record: the claim is the outcome, processed at once).
    await db.query(`
      create or replace function messaging_claim(
        p_tenant uuid, p_ids uuid[], p_queues text[], p_record boolean
      ) returns table (id uuid, queue_name text, payload jsonb, attempts integer) ${attributes} as $fn$
      #variable_conflict use_column
      begin
        perform set_config('app.tenant_id', p_tenant::text, true);
        return query
          update messages m set
                 status = case when p_record then 'processed' else 'processing' end,
                 processed_at = case when p_record then now() else m.processed_at end,
                 last_error = case when p_record then null else m.last_error end,
                 attempts = m.attempts + 1, updated_at = now()
            from unnest(p_ids, p_queues) as t(id, queue_name)
           where m.tenant_id = p_tenant and m.id = t.id and m.queue_name = t.queue_name
             and m.status in ('queued', 'processing')
          returning m.id, m.queue_name, case when p_record then null else m.payload end, m.attempts;
      end
      $fn$`);

    await db.query(`
      create or replace function messaging_complete(p_tenant uuid, p_ids uuid[])
      returns void ${attributes} as $fn$
      begin
        perform set_config('app.tenant_id', p_tenant::text, true);
        update messages set status = 'processed', processed_at = now(), last_error = null,
               updated_at = now()
         where tenant_id = p_tenant and id = any(p_ids) and status = 'processing';
      end
      $fn$`);

    await db.query(`
      create or replace function messaging_clear_outbox(p_tenant uuid, p_ids uuid[])
      returns void ${attributes} as $fn$
      begin
        perform set_config('app.tenant_id', p_tenant::text, true);
        delete from message_outbox where tenant_id = p_tenant and message_id = any(p_ids);
      end
      $fn$`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('drop function if exists messaging_clear_outbox(uuid, uuid[])');
    await db.query('drop function if exists messaging_complete(uuid, uuid[])');
    await db.query('drop function if exists messaging_claim(uuid, uuid[], text[], boolean)');
    await db.query('drop function if exists messaging_store(uuid, uuid[], text[], text[], text[])');
  }
}
