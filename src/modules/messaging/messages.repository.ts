import { Injectable } from '@nestjs/common';
import { cursorInstantSql } from '../../shared/pagination';
import { TenantDatabase } from '../tenancy';
import type { MessageStatus } from './dto/messaging.dto';
import { rowsOf } from './sql-rows';

/** A `messages` row as the views read it. */
export interface MessageRow {
  id: string;
  tenant_id: string;
  queue_name: string;
  payload: unknown;
  status: MessageStatus;
  attempts: number;
  last_error: string | null;
  idempotency_key: string | null;
  created_at: Date;
  processed_at: Date | null;
  /** created_at with its microseconds, for the cursor. */
  created_key: string;
}

/** A message to store; its id is chosen by the caller (a taken key's row has another one). */
export interface NewMessage {
  id: string;
  queueName: string;
  payload: unknown;
  idempotencyKey?: string;
  /** The W3C trace context of the request that stored it (tracing on), kept in its outbox row. */
  traceparent?: string;
}

/** Which messages to list, newest first. */
export interface MessageFilter {
  queueName?: string;
  status?: MessageStatus;
  /** Rows before this position; without `id`, before the instant (an earlier release's cursor). */
  before?: { createdAt: string; id?: string };
  /** How many rows to read. */
  take: number;
}

/** A delivery to claim: the message it names and the queue it arrived on. */
export interface DeliveryKey {
  id: string;
  queueName: string;
}

/** What a claim hands the worker. */
export interface ClaimedRow {
  id: string;
  queue_name: string;
  payload: unknown;
  attempts: number;
}

/** An outbox entry due for the relay, with its message's status (null when the row is gone). */
export interface OutboxEntry {
  message_id: string;
  queue_name: string;
  status: string | null;
  traceparent: string | null;
}

/** When a live row with no outbox entry counts as stuck (see `STUCK`). */
export interface StuckRule {
  leaseMs: number;
  retryDelaysMs: number[];
}

const COLUMNS = `id, tenant_id, queue_name, payload, status, attempts, last_error, idempotency_key,
  created_at, processed_at,
  ${cursorInstantSql('created_at')} as created_key`;

/**
 * A live row with no outbox row, past its lease ($2 ms): `processing` since its claim, `queued`
 * since its last change plus the delay of its retry step ($3, the configured delays) — a
 * queued row with attempts waits in a delay queue that long before it is due again.
 */
const STUCK = `m.tenant_id = $1 and m.status in ('queued', 'processing')
  and not exists (select 1 from message_outbox o where o.tenant_id = $1 and o.message_id = m.id)
  and case when m.status = 'processing'
        then coalesce(m.claimed_at, m.updated_at) < now() - make_interval(secs => $2::float8 / 1000)
        else m.updated_at < now() - make_interval(secs => ($2::float8
          + coalesce(($3::int[])[least(m.attempts, cardinality($3::int[]))], 0)) / 1000)
      end`;

/**
 * Every statement on `messages` and `message_outbox` (tenant databases, row-level security
 * forced). A statement on `messages` names the tenant (`tenant_id = $n`, RLS's value too): the
 * partition is then chosen when planning, where RLS alone prunes only at execution, after
 * planning every partition. The batched paths are calls of tenant functions (`messaging_store`,
 * `messaging_claim`, `messaging_complete`, `messaging_clear_outbox`): one round trip each.
 */
@Injectable()
export class MessagesRepository {
  constructor(private readonly tenantDb: TenantDatabase) {}

  /** New rows with their outbox entries, then the rows of keys already taken (messaging_store). */
  store(tenantId: string, messages: readonly NewMessage[]): Promise<MessageRow[]> {
    return this.tenantDb.statementFor<MessageRow>(
      tenantId,
      `select ${COLUMNS}
         from messaging_store($1, $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[])`,
      [
        tenantId,
        messages.map((message) => message.id),
        messages.map((message) => message.queueName),
        messages.map((message) => JSON.stringify(message.payload ?? null)),
        messages.map((message) => message.idempotencyKey ?? null),
        messages.some((message) => message.traceparent)
          ? messages.map((message) => message.traceparent ?? null)
          : null,
      ],
    );
  }

  /** The tenant's partition of `messages`; true when this call made it. */
  async ensurePartition(tenantId: string): Promise<boolean> {
    const rows: Array<{ created: boolean }> = await this.tenantDb.runFor(tenantId, (m) =>
      m.query(`select messaging_ensure_partition($1) as created`, [tenantId]),
    );
    return rows[0]?.created ?? false;
  }

  async find(tenantId: string, id: string): Promise<MessageRow | null> {
    const rows: MessageRow[] = await this.tenantDb.runFor(tenantId, (m) =>
      m.query(`select ${COLUMNS} from messages where tenant_id = $1 and id = $2`, [tenantId, id]),
    );
    return rows[0] ?? null;
  }

  /** Newest first, by (created_at, id). */
  async list(tenantId: string, filter: MessageFilter): Promise<MessageRow[]> {
    const where: string[] = ['tenant_id = $1'];
    const params: unknown[] = [tenantId];
    const add = (sql: string, ...values: unknown[]) => {
      let text = sql;
      for (const value of values) {
        params.push(value);
        text = text.replace('?', `$${params.length}`);
      }
      where.push(text);
    };
    if (filter.queueName) add('queue_name = ?', filter.queueName);
    if (filter.status) add('status = ?', filter.status);
    const before = filter.before;
    if (before?.id !== undefined) {
      add('(created_at, id) < (?::timestamptz, ?::uuid)', before.createdAt, before.id);
    } else if (before) {
      add('created_at < ?::timestamptz', before.createdAt);
    }
    params.push(filter.take);
    const rows: MessageRow[] = await this.tenantDb.runFor(tenantId, (m) =>
      m.query(
        `select ${COLUMNS} from messages where ${where.join(' and ')}
          order by created_at desc, id desc limit $${params.length}`,
        params,
      ),
    );
    return rows;
  }

  /**
   * A failed message back to `queued` (attempts reset) with its outbox row, in one transaction;
   * else why not: no such message, or not failed.
   */
  requeueFailed(tenantId: string, id: string): Promise<MessageRow | 'not_found' | 'not_failed'> {
    return this.tenantDb.runFor(tenantId, async (m) => {
      const updated = rowsOf<MessageRow>(
        await m.query(
          `update messages set status = 'queued', attempts = 0, last_error = null, processed_at = null, updated_at = now()
          where tenant_id = $2 and id = $1 and status = 'failed' returning ${COLUMNS}`,
          [id, tenantId],
        ),
      );
      if (!updated[0]) {
        const exists: unknown[] = await m.query(
          `select 1 from messages where tenant_id = $1 and id = $2`,
          [tenantId, id],
        );
        return exists.length ? 'not_failed' : 'not_found';
      }
      await m.query(
        `insert into message_outbox (message_id, queue_name) values ($1, $2) on conflict do nothing`,
        [id, updated[0].queue_name],
      );
      return updated[0];
    });
  }

  /**
   * Claims deliveries (messaging_claim): `processing`, attempts + 1, a lease of `leaseMs`; in
   * the record-only case stored as processed by the same statement. A row that is not (or no
   * longer) the queue's to process is not returned.
   */
  claim(
    tenantId: string,
    deliveries: readonly DeliveryKey[],
    recordOnly: boolean,
    leaseMs: number,
  ): Promise<ClaimedRow[]> {
    return this.tenantDb.statementFor<ClaimedRow>(
      tenantId,
      `select id, queue_name, payload, attempts
         from messaging_claim($1, $2::uuid[], $3::text[], $4, $5)`,
      [
        tenantId,
        deliveries.map((delivery) => delivery.id),
        deliveries.map((delivery) => delivery.queueName),
        recordOnly,
        leaseMs,
      ],
    );
  }

  /** Handled messages stored as processed (messaging_complete). */
  async complete(tenantId: string, ids: readonly string[]): Promise<void> {
    await this.tenantDb.statementFor(tenantId, `select messaging_complete($1, $2::uuid[])`, [
      tenantId,
      ids,
    ]);
  }

  /** A failed attempt: `queued` again (a retry follows) or `failed` (attempts spent). */
  async recordFailure(
    tenantId: string,
    id: string,
    status: 'queued' | 'failed',
    error: string,
  ): Promise<void> {
    await this.tenantDb.runFor(tenantId, (m) =>
      m.query(
        `update messages set status = $2, last_error = $3, updated_at = now()
          where tenant_id = $4 and id = $1`,
        [id, status, error, tenantId],
      ),
    );
  }

  /** A message's status and queue (null when the tenant has no such message). */
  async statusOf(
    tenantId: string,
    id: string,
  ): Promise<{ status: string; queue_name: string } | null> {
    const rows = await this.tenantDb.runFor(tenantId, async (m) =>
      rowsOf<{ status: string; queue_name: string }>(
        await m.query(`select status, queue_name from messages where tenant_id = $1 and id = $2`, [
          tenantId,
          id,
        ]),
      ),
    );
    return rows[0] ?? null;
  }

  /** Confirmed messages' outbox rows deleted (messaging_clear_outbox). */
  async clearOutbox(tenantId: string, ids: readonly string[]): Promise<void> {
    await this.tenantDb.statementFor(tenantId, `select messaging_clear_outbox($1, $2::uuid[])`, [
      tenantId,
      ids,
    ]);
  }

  async hasOutbox(tenantId: string): Promise<boolean> {
    const rows: unknown[] = await this.tenantDb.runFor(tenantId, (m) =>
      m.query(`select 1 from message_outbox limit 1`),
    );
    return rows.length > 0;
  }

  /** Outbox rows older than `olderThanMs`, oldest first, skipping the queues named. */
  async dueOutbox(
    tenantId: string,
    olderThanMs: number,
    limit: number,
    skipQueues: readonly string[],
  ): Promise<OutboxEntry[]> {
    const rows: OutboxEntry[] = await this.tenantDb.runFor(tenantId, (m) =>
      m.query(
        `select o.message_id, o.queue_name, m.status, o.traceparent from message_outbox o
           left join messages m on m.tenant_id = $3 and m.id = o.message_id
          where o.created_at < now() - make_interval(secs => $1::float8 / 1000)
            and o.queue_name <> all($4::text[])
          order by o.created_at limit $2`,
        [olderThanMs, limit, tenantId, [...skipQueues]],
      ),
    );
    return rows;
  }

  async deleteOutbox(tenantId: string, messageId: string): Promise<void> {
    await this.tenantDb.runFor(tenantId, (m) =>
      m.query(`delete from message_outbox where message_id = $1`, [messageId]),
    );
  }

  /** Queues with stuck rows (see `STUCK`), and whether any of them is `queued`. */
  async stuckQueues(
    tenantId: string,
    rule: StuckRule,
  ): Promise<Array<{ queue_name: string; queued: boolean }>> {
    const rows: Array<{ queue_name: string; queued: boolean }> = await this.tenantDb.runFor(
      tenantId,
      (m) =>
        m.query(
          `select m.queue_name, bool_or(m.status = 'queued') as queued
             from messages m where ${STUCK} group by m.queue_name`,
          [tenantId, rule.leaseMs, rule.retryDelaysMs],
        ),
    );
    return rows;
  }

  /**
   * Gives stuck rows an outbox row back (`processing` → `queued`): every `processing` one, and
   * `queued` ones of `queuedOf` only; at most `limit`, oldest first, the outbox rows dated
   * `datedBackMs` back. Returns how many.
   */
  async requeueStuck(
    tenantId: string,
    rule: StuckRule,
    queuedOf: readonly string[],
    limit: number,
    datedBackMs: number,
  ): Promise<number> {
    const rows: unknown[] = await this.tenantDb.runFor(tenantId, (m) =>
      m.query(
        `with stuck as (
           select m.id from messages m
            where ${STUCK} and (m.status = 'processing' or m.queue_name = any($4::text[]))
            order by m.updated_at limit $5
              for update of m skip locked
         ), requeued as (
           update messages m set status = 'queued', updated_at = now()
             from stuck s where m.tenant_id = $1 and m.id = s.id
           returning m.id, m.queue_name
         )
         insert into message_outbox (message_id, queue_name, created_at)
         select id, queue_name, now() - make_interval(secs => $6::float8 / 1000) from requeued
         on conflict do nothing
         returning message_id`,
        [tenantId, rule.leaseMs, rule.retryDelaysMs, [...queuedOf], limit, datedBackMs],
      ),
    );
    return rows.length;
  }
}
