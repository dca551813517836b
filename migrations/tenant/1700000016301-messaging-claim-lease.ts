import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A claim is a lease: `claimed_at` records when a worker took a message, and `messaging_claim`
 * takes a row that is already `processing` only once that lease has expired (a worker that died
 * or lost its channel), never while another worker may still be running its handler (two
 * deliveries of one message in flight at once, e.g. a relayed duplicate, run the handler once).
 * The partial index serves the sweeper, which looks for rows left `queued`/`processing` past
 * their lease with no outbox row: it holds only the live rows of each partition.
 */
export class MessagingClaimLease1700000016301 implements MigrationInterface {
  name = 'MessagingClaimLease1700000016301';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`alter table messages add column if not exists claimed_at timestamptz`);
    await db.query(
      `create index if not exists messages_live_idx on messages (tenant_id, updated_at)
        where status in ('queued', 'processing')`,
    );

    const attributes = `language plpgsql security invoker
      set search_path = public set plan_cache_mode = force_custom_plan`;
    // The lease is an argument with a default: the four-argument form (an instance of the
    // previous release) resolves to this function, with the default lease.
    await db.query('drop function if exists messaging_claim(uuid, uuid[], text[], boolean)');
    await db.query(`
      create or replace function messaging_claim(
        p_tenant uuid, p_ids uuid[], p_queues text[], p_record boolean,
        p_lease_ms integer default 30000
      ) returns table (id uuid, queue_name text, payload jsonb, attempts integer) ${attributes} as $fn$
      #variable_conflict use_column
      begin
        perform set_config('app.tenant_id', p_tenant::text, true);
        return query
          update messages m set
                 status = case when p_record then 'processed' else 'processing' end,
                 processed_at = case when p_record then now() else m.processed_at end,
                 last_error = case when p_record then null else m.last_error end,
                 attempts = m.attempts + 1, claimed_at = now(), updated_at = now()
            from unnest(p_ids, p_queues) as t(id, queue_name)
           where m.tenant_id = p_tenant and m.id = t.id and m.queue_name = t.queue_name
             and (m.status = 'queued'
                  or (m.status = 'processing'
                      and coalesce(m.claimed_at, m.updated_at)
                          < now() - make_interval(secs => p_lease_ms / 1000.0)))
          returning m.id, m.queue_name, case when p_record then null else m.payload end, m.attempts;
      end
      $fn$`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(
      'drop function if exists messaging_claim(uuid, uuid[], text[], boolean, integer)',
    );
    // The previous claim (re-claims `processing` rows at once), as its own migration made it.
    await db.query(`
      create or replace function messaging_claim(
        p_tenant uuid, p_ids uuid[], p_queues text[], p_record boolean
      ) returns table (id uuid, queue_name text, payload jsonb, attempts integer)
      language plpgsql security invoker set search_path = public set plan_cache_mode = force_custom_plan
      as $fn$
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
    await db.query('drop index if exists messages_live_idx');
    await db.query('alter table messages drop column if exists claimed_at');
  }
}
