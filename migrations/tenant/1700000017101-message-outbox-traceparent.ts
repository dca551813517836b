import type { MigrationInterface, QueryRunner } from 'typeorm';

const ATTRIBUTES = `language plpgsql security invoker
      set search_path = public set plan_cache_mode = force_custom_plan`;

/**
 * An outbox row keeps the W3C `traceparent` of the request that stored its message: a message
 * the relay publishes later continues that request's trace. `messaging_store` takes the
 * traceparents as a sixth argument with a default, so the five-argument call (an instance of the
 * previous release) still resolves, storing none.
 */
export class MessageOutboxTraceparent1700000017101 implements MigrationInterface {
  name = 'MessageOutboxTraceparent1700000017101';

  async up(db: QueryRunner): Promise<void> {
    await db.query('alter table message_outbox add column if not exists traceparent text');
    await db.query('drop function if exists messaging_store(uuid, uuid[], text[], text[], text[])');
    await db.query(`
      create or replace function messaging_store(
        p_tenant uuid, p_ids uuid[], p_queues text[], p_payloads text[], p_keys text[],
        p_traceparents text[] default null
      ) returns setof messages ${ATTRIBUTES} as $fn$
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
            insert into message_outbox (message_id, queue_name, traceparent)
            select i.id, i.queue_name, tp.traceparent
              from inserted i
              left join unnest(p_ids, coalesce(p_traceparents, '{}'::text[])) as tp(id, traceparent)
                on tp.id = i.id
          )
          select * from inserted;
        return query
          select m.* from messages m
           where m.tenant_id = p_tenant and m.idempotency_key = any(p_keys) and m.id <> all(p_ids);
      end
      $fn$`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(
      'drop function if exists messaging_store(uuid, uuid[], text[], text[], text[], text[])',
    );
    // The previous store, as its own migration made it.
    await db.query(`
      create or replace function messaging_store(
        p_tenant uuid, p_ids uuid[], p_queues text[], p_payloads text[], p_keys text[]
      ) returns setof messages ${ATTRIBUTES} as $fn$
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
    await db.query('alter table message_outbox drop column if exists traceparent');
  }
}
