import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { cursorInstantSql } from '../../../shared/pagination';
import { currentTraceparent } from '../../../shared/telemetry';
import type { LocationUpdateMessage } from '../updates/location-update.message';

export type LedgerStatus = 'pending' | 'retried' | 'resolved' | 'permanently_failed';

export interface LedgerRow {
  id: string;
  tenant_id: string;
  event_id: string;
  session_id: string;
  user_id: string;
  latitude: number;
  longitude: number;
  accuracy: number | null;
  recorded_at: Date;
  payload: LocationUpdateMessage;
  error_message: string | null;
  last_status_code: number | null;
  attempts: number;
  retry_count: number;
  status: LedgerStatus;
  next_retry_at: Date | null;
  claim_token: string | null;
  created_at: Date;
  updated_at: Date;
  resolved_at: Date | null;
  /** The W3C trace context of the dead-lettering that filed it (tracing on): a retry links to it. */
  traceparent: string | null;
}

/**
 * The retry ledger `failed_location_updates` (platform database: one poller for every tenant).
 * Every read that serves a route takes the tenant filter; `null` means a platform admin's "all".
 */
@Injectable()
export class RetryLedgerRepository {
  constructor(private readonly db: DataSource) {}

  /** Records a failed delivery once per event id; answers whether this call inserted it. */
  async record(input: {
    record: LocationUpdateMessage;
    error: string;
    statusCode: number | null;
    attempts: number;
    status: 'pending' | 'permanently_failed';
    nextRetryAt: Date | null;
    now: Date;
    sourceTopic: string;
  }): Promise<boolean> {
    const r = input.record;
    const rows = await this.db.query<Array<{ id: string }>>(
      `insert into failed_location_updates
         (tenant_id, event_id, session_id, user_id, latitude, longitude, accuracy, recorded_at,
          payload, error_message, last_status_code, attempts, status, next_retry_at, created_at, updated_at,
          source_topic, traceparent)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16, $17)
       on conflict (event_id) do nothing
       returning id`,
      [
        r.tenant_id,
        r.event_id,
        r.session_id,
        r.user_id,
        r.latitude,
        r.longitude,
        r.accuracy,
        r.recorded_at,
        JSON.stringify(r),
        input.error.slice(0, 2000),
        input.statusCode,
        input.attempts,
        input.status,
        input.nextRetryAt,
        input.now,
        input.sourceTopic,
        currentTraceparent() ?? null,
      ],
    );
    return rows.length > 0;
  }

  /**
   * Claims up to `limit` due rows, oldest due first and round-robin between tenants: each
   * tenant's due rows are ranked by `next_retry_at`, and the claim takes every tenant's first,
   * then every tenant's second, and so on. A tenant with ten thousand due rows gets a share of a
   * tick like any other, never the whole tick. FOR UPDATE SKIP LOCKED: two workers never take
   * the same row (a row another worker is claiming right now is skipped, not waited for). The
   * claim is a lease (real time, not the schedule clock) with a token; every later write checks
   * the token, so a row whose lease ran out is never written by its old holder.
   */
  async claimDue(topic: string, now: Date, limit: number, leaseMs: number): Promise<LedgerRow[]> {
    const [rows] = await this.db.query<[LedgerRow[], number]>(
      `with due as (
         select id, next_retry_at,
                row_number() over (partition by tenant_id order by next_retry_at, id) as turn
           from failed_location_updates
          where status in ('pending', 'retried') and source_topic = $5 and next_retry_at <= $1
            and (claimed_until is null or claimed_until < clock_timestamp())
       ),
       fair as (
         select id from due where turn <= $2 order by turn, next_retry_at, id limit $2
       )
       update failed_location_updates f
          set claimed_until = clock_timestamp() + make_interval(secs => $3::double precision / 1000),
              claim_token = $4
        where f.id in (
          select l.id from failed_location_updates l
           where l.id in (select id from fair)
             and l.status in ('pending', 'retried')
             and (l.claimed_until is null or l.claimed_until < clock_timestamp())
           for update skip locked)
        returning f.*`,
      [now, limit, leaseMs, randomUUID(), topic],
    );
    return rows;
  }

  async resolve(row: LedgerRow, now: Date): Promise<boolean> {
    return this.settle(
      row,
      `status = 'resolved', resolved_at = $3, attempts = attempts + 1, next_retry_at = null`,
      [now],
    );
  }

  async retried(
    row: LedgerRow,
    input: { now: Date; nextRetryAt: Date; error: string; statusCode: number | null },
  ): Promise<boolean> {
    return this.settle(
      row,
      `status = 'retried', retry_count = retry_count + 1, attempts = attempts + 1,
       next_retry_at = $4, error_message = $5, last_status_code = coalesce($6, last_status_code)`,
      [input.now, input.nextRetryAt, input.error.slice(0, 2000), input.statusCode],
    );
  }

  async permanentlyFailed(
    row: LedgerRow,
    input: { now: Date; error: string; statusCode: number | null; attempted: boolean },
  ): Promise<boolean> {
    return this.settle(
      row,
      `status = 'permanently_failed', next_retry_at = null,
       retry_count = retry_count + $6::int, attempts = attempts + $6::int,
       error_message = $4, last_status_code = coalesce($5, last_status_code)`,
      [input.now, input.error.slice(0, 2000), input.statusCode, input.attempted ? 1 : 0],
    );
  }

  /**
   * Gives a claimed row back without an attempt (its target's breaker is open, or it has no
   * target now), due again at `nextRetryAt`, not at the next tick: a released row that stayed
   * due would be claimed again and again ahead of rows that can be delivered.
   */
  async release(row: LedgerRow, nextRetryAt: Date): Promise<void> {
    await this.db.query(
      `update failed_location_updates
          set claimed_until = null, claim_token = null,
              next_retry_at = greatest(next_retry_at, $3)
        where id = $1 and claim_token = $2`,
      [row.id, row.claim_token, nextRetryAt],
    );
  }

  private async settle(row: LedgerRow, set: string, params: unknown[]): Promise<boolean> {
    const [, affected] = await this.db.query<[unknown[], number]>(
      `update failed_location_updates
          set ${set}, updated_at = $3, claimed_until = null, claim_token = null
        where id = $1 and claim_token = $2
        returning id`,
      [row.id, row.claim_token, ...params],
    );
    return affected > 0;
  }

  async findForTenant(id: string, tenantId: string | null): Promise<LedgerRow | null> {
    const [row] = await this.db.query<LedgerRow[]>(
      `select * from failed_location_updates where id = $1 and ($2::uuid is null or tenant_id = $2)`,
      [id, tenantId],
    );
    return row ?? null;
  }

  /** A manual replay: a pending, retried or permanently_failed row becomes due now. */
  async replay(id: string, tenantId: string | null, now: Date): Promise<LedgerRow | null> {
    const [rows] = await this.db.query<[LedgerRow[], number]>(
      `update failed_location_updates
          set status = case when status = 'permanently_failed' then 'retried' else status end,
              next_retry_at = $3, claimed_until = null, claim_token = null, updated_at = $3
        where id = $1 and ($2::uuid is null or tenant_id = $2) and status <> 'resolved'
        returning *`,
      [id, tenantId, now],
    );
    return rows[0] ?? null;
  }

  async list(input: {
    tenantId: string | null;
    status?: LedgerStatus;
    after: [string, string] | null;
    limit: number;
  }): Promise<Array<LedgerRow & { cursor_at: string }>> {
    return this.db.query<Array<LedgerRow & { cursor_at: string }>>(
      `select *, ${cursorInstantSql('created_at')} as cursor_at from failed_location_updates
        where ($1::uuid is null or tenant_id = $1)
          and ($2::text is null or status = $2)
          and ($3::timestamptz is null or (created_at, id) < ($3::timestamptz, $4::uuid))
        order by created_at desc, id desc
        limit $5`,
      [
        input.tenantId,
        input.status ?? null,
        input.after?.[0] ?? null,
        input.after?.[1] ?? null,
        input.limit + 1,
      ],
    );
  }

  async stats(tenantId: string | null) {
    const [byStatus, histogram, [edges]] = await Promise.all([
      this.db.query<Array<{ status: LedgerStatus; count: string }>>(
        `select status, count(*) as count from failed_location_updates
          where ($1::uuid is null or tenant_id = $1) group by status`,
        [tenantId],
      ),
      this.db.query<Array<{ retry_count: number; count: string }>>(
        `select retry_count, count(*) as count from failed_location_updates
          where ($1::uuid is null or tenant_id = $1) group by retry_count order by retry_count`,
        [tenantId],
      ),
      this.db.query<Array<{ oldest: Date | null; next_due: Date | null }>>(
        `select min(created_at) filter (where status in ('pending', 'retried')) as oldest,
                min(next_retry_at) filter (where status in ('pending', 'retried')) as next_due
           from failed_location_updates where ($1::uuid is null or tenant_id = $1)`,
        [tenantId],
      ),
    ]);
    return { byStatus, histogram, oldest: edges?.oldest ?? null, nextDue: edges?.next_due ?? null };
  }
}
