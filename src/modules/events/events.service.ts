import { Inject, Injectable } from '@nestjs/common';
import { ClsService } from 'nestjs-cls';
import type { EntityManager } from 'typeorm';
import { z } from 'zod';
import {
  cursorCodec,
  cursorInstantSql,
  cursorParts,
  type Page,
  toPage,
} from '../../shared/pagination';
import { eventsConfig, type EventsConfig } from '../../config';
import { NaturalBatcher } from '../../shared/batching';
import { currentTraceparent } from '../../shared/telemetry';
import { AppError, commonError } from '../../shared/errors';
import { TenantContext, type TenantContextStore } from '../../shared/tenant-context';
import { otherTenant, TenantDatabase } from '../tenancy';
import type { EventStats, EventView, ListEventsQuery, StatsQuery } from './dto/events.dto';
import { EventsBus } from './feed/events-bus';
import { eventsError } from './events.errors';
import {
  eventsDuplicates,
  eventsIngested,
  eventsRejected,
  ingestBatchRequests,
  ingestSeconds,
} from './events.metrics';
import { asError, chunkByEvents, splitByRequest } from './ingest-batch';
import { contextTenantLabel, tenantLabel } from '../../shared/metrics';

export const MAX_METADATA_BYTES = 64 * 1024;
export const MAX_METADATA_DEPTH = 32;
const MAX_BUCKETS = 10_000;
/** Requests of one tenant one shared ingestion takes at most (their events are bounded by config). */
export const INGEST_BATCH_MAX_REQUESTS = 100;
const BUCKET_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;

interface EventRow {
  id: string;
  tenant_id: string;
  seq: string;
  event_type: string;
  source: string;
  client_event_id: string | null;
  timestamp: Date;
  metadata: Record<string, unknown>;
  created_at: Date;
}

/** One event to store, already validated, with the tenant's trust decided by the caller. */
export interface NewEvent {
  event_type: string;
  source: string;
  timestamp?: string;
  metadata?: Record<string, unknown>;
  event_id?: string;
  /** Set by `ingest` (tracing on): the request's trace context, carried to the push. */
  traceparent?: string;
}

export interface Ingested {
  event: EventView;
  /** False when `event_id` named an event already stored (the stored one is answered). */
  created: boolean;
}

const listCursor = cursorCodec(z.tuple([cursorParts.instant, cursorParts.bigint]));
const COLUMNS =
  'id, tenant_id, seq, event_type, source, client_event_id, timestamp, metadata, created_at';

export function toView(row: EventRow): EventView {
  return {
    id: row.id,
    tenant_id: row.tenant_id,
    seq: Number(row.seq),
    event_type: row.event_type,
    source: row.source,
    timestamp: row.timestamp.toISOString(),
    metadata: row.metadata,
    created_at: row.created_at.toISOString(),
  };
}

/** Depth of a JSON value (an empty object counts 1), stopping early past `limit`. */
function depthOf(value: unknown, limit: number, depth = 0): number {
  if (value === null || typeof value !== 'object') return depth;
  if (depth + 1 > limit) return depth + 1;
  let max = depth + 1;
  for (const child of Object.values(value as Record<string, unknown>)) {
    max = Math.max(max, depthOf(child, limit, depth + 1));
    if (max > limit) break;
  }
  return max;
}

/** Checks what zod cannot answer with the right status: size (413), depth and NUL (400). */
export function checkMetadata(metadata: Record<string, unknown> | undefined, index?: number): void {
  if (!metadata) return;
  const where = index === undefined ? 'metadata' : `events[${index}].metadata`;
  const text = JSON.stringify(metadata);
  if (Buffer.byteLength(text, 'utf8') > MAX_METADATA_BYTES) {
    eventsRejected.inc({ reason: 'too_large', tenant_id: contextTenantLabel() });
    throw eventsError('EVENTS.METADATA_TOO_LARGE', `${where} is over ${MAX_METADATA_BYTES} bytes`);
  }
  if (depthOf(metadata, MAX_METADATA_DEPTH) > MAX_METADATA_DEPTH) {
    eventsRejected.inc({ reason: 'too_deep', tenant_id: contextTenantLabel() });
    throw eventsError(
      'EVENTS.METADATA_TOO_DEEP',
      `${where} nests deeper than ${MAX_METADATA_DEPTH} levels`,
    );
  }
  if (text.includes('\\u0000')) {
    eventsRejected.inc({ reason: 'invalid', tenant_id: contextTenantLabel() });
    throw commonError('COMMON.VALIDATION', `${where} must not contain the NUL character`);
  }
}

/** Keeps the body's `tenant_id` honest: it may only name the credential's own tenant. */
export function checkBodyTenant(tenantId: string, claimed: string | undefined): void {
  if (claimed === undefined || claimed === tenantId) return;
  eventsRejected.inc({ reason: 'foreign_tenant', tenant_id: tenantLabel(tenantId) });
  throw otherTenant('tenant_id names another tenant than your credentials');
}

/** Escapes LIKE wildcards, after writing `term` as it appears inside the JSON text of metadata. */
export function likePattern(term: string): string {
  const asJson = JSON.stringify(term).slice(1, -1);
  return `%${asJson.replace(/[\\%_]/g, '\\$&')}%`;
}

/**
 * Storage and queries of the tenant event feed. Ingestion takes the tenant's counter row
 * (`event_seqs`) with a row lock for the length of its transaction: a tenant's ingestions are
 * serialised, so `seq` follows commit order and a rollback leaves no hole. So that the lock is
 * not the tenant's bottleneck, the ingestions of one tenant that arrive while its previous one
 * runs share the next transaction (one lock, one counter step, one insert, one publication).
 */
@Injectable()
export class EventsService {
  /**
   * Per tenant, one shared ingestion at a time on this instance: alone, a request runs at once;
   * under load, everything that arrived meanwhile joins the next (no timer, no linger).
   */
  private readonly batcher = new NaturalBatcher<NewEvent[], Ingested[]>({
    run: (tenantId, requests) => this.ingestShared(tenantId, requests),
    maxBatchSize: INGEST_BATCH_MAX_REQUESTS,
  });

  constructor(
    private readonly tenantDb: TenantDatabase,
    private readonly bus: EventsBus,
    private readonly context: TenantContext,
    private readonly cls: ClsService<TenantContextStore>,
    @Inject(eventsConfig.KEY) private readonly config: EventsConfig,
  ) {}

  /**
   * Stores the events (an `event_id` already stored answers the stored event) and publishes the
   * new ones; resolves once they are committed. Concurrent calls of one tenant share one
   * transaction, each answered with its own results or its own error.
   */
  async ingest(tenantId: string, given: NewEvent[]): Promise<Ingested[]> {
    const traceparent = currentTraceparent();
    const inputs = traceparent ? given.map((input) => ({ ...input, traceparent })) : given;
    // Inside a tenant transaction the caller opened, the events join that transaction.
    if (this.cls.isActive() && this.cls.get('tenantTransaction')) {
      const results = await this.tenantDb.runFor(tenantId, (manager) =>
        this.store(manager, tenantId, inputs),
      );
      await this.published(tenantId, results, inputs);
      return results;
    }
    return this.batcher.load(tenantId, inputs);
  }

  /**
   * One batch of requests of one tenant, in arrival order: runs of them (bounded by
   * `ingest.batchMaxEvents`) each in one transaction. A run that fails on anything but an
   * unavailable database is tried again one request per transaction, so a request's fault (a
   * duplicate key, a trigger's refusal) fails that request only, and the others are answered
   * as if they had come alone. Never throws: each request gets its results or its error.
   */
  private async ingestShared(
    tenantId: string,
    requests: readonly NewEvent[][],
  ): Promise<Array<Ingested[] | Error>> {
    const answers: Array<Ingested[] | Error> = [];
    for (const run of chunkByEvents(requests, this.config.ingest.batchMaxEvents)) {
      ingestBatchRequests.observe({ tenant_id: tenantLabel(tenantId) }, run.length);
      try {
        answers.push(...splitByRequest(run, await this.storeInOne(tenantId, run.flat())));
      } catch (error) {
        if (run.length === 1 || error instanceof AppError) {
          answers.push(...run.map(() => asError(error)));
          continue;
        }
        for (const request of run) {
          answers.push(await this.storeInOne(tenantId, request).catch(asError));
        }
      }
    }
    return answers;
  }

  /** One transaction, then the publication of what it made new. */
  private async storeInOne(tenantId: string, inputs: NewEvent[]): Promise<Ingested[]> {
    const stop = ingestSeconds.startTimer({ tenant_id: tenantLabel(tenantId) });
    const results = await this.tenantDb.runFor(tenantId, (manager) =>
      this.store(manager, tenantId, inputs),
    );
    stop();
    await this.published(tenantId, results, inputs);
    return results;
  }

  private async published(
    tenantId: string,
    results: Ingested[],
    inputs: readonly NewEvent[],
  ): Promise<void> {
    const fresh = results.filter((r) => r.created).map((r) => r.event);
    const tenant = tenantLabel(tenantId);
    for (const event of fresh) eventsIngested.inc({ source: event.source, tenant_id: tenant });
    eventsDuplicates.inc({ tenant_id: tenant }, results.length - fresh.length);
    // Each new event's trace context (results answer inputs in order), when any has one.
    const traceparents = inputs.some((input) => input.traceparent)
      ? results.flatMap((r, i) => (r.created ? [inputs[i].traceparent] : []))
      : undefined;
    await this.bus.publish(tenantId, fresh, traceparents);
  }

  private async store(
    manager: EntityManager,
    tenantId: string,
    inputs: NewEvent[],
  ): Promise<Ingested[]> {
    // Without client ids every input is a new row: lock and advance the counter in one statement.
    const fastPath = inputs.every((input) => !input.event_id);
    const locked = await manager.query<Array<{ seq: string }>>(
      `insert into event_seqs (tenant_id, seq) values ($1, $2)
         on conflict (tenant_id) do update set seq = event_seqs.seq + excluded.seq returning seq`,
      [tenantId, fastPath ? inputs.length : 0],
    );
    const head = Number(locked[0].seq) - (fastPath ? inputs.length : 0);

    const clientIds = [...new Set(inputs.flatMap((i) => (i.event_id ? [i.event_id] : [])))];
    const existing = new Map<string, EventRow>();
    if (clientIds.length) {
      const rows = await manager.query<EventRow[]>(
        `select ${COLUMNS} from events where tenant_id = $1 and client_event_id = any($2::text[])`,
        [tenantId, clientIds],
      );
      for (const row of rows) existing.set(row.client_event_id!, row);
    }

    // Which inputs make a new row (the first of each new event_id), in input order.
    const claimed = new Set<string>();
    const fresh: NewEvent[] = [];
    for (const input of inputs) {
      if (input.event_id) {
        if (existing.has(input.event_id) || claimed.has(input.event_id)) continue;
        claimed.add(input.event_id);
      }
      fresh.push(input);
    }

    const inserted = new Map<number, EventRow>();
    if (fresh.length) {
      const docs = fresh.map((input) => ({
        event_type: input.event_type,
        source: input.source,
        client_event_id: input.event_id ?? null,
        timestamp: input.timestamp ?? null,
        metadata: input.metadata ?? {},
      }));
      const rows = await manager.query<EventRow[]>(
        `insert into events (tenant_id, seq, event_type, source, client_event_id, timestamp, metadata)
         select $1, $2::bigint + e.ord, e.doc->>'event_type', e.doc->>'source', e.doc->>'client_event_id',
                coalesce((e.doc->>'timestamp')::timestamptz, now()), e.doc->'metadata'
           from jsonb_array_elements($3::jsonb) with ordinality as e(doc, ord)
         returning ${COLUMNS}`,
        [tenantId, head, JSON.stringify(docs)],
      );
      for (const row of rows) inserted.set(Number(row.seq), row);
      if (!fastPath)
        await manager.query('update event_seqs set seq = $2 where tenant_id = $1', [
          tenantId,
          head + fresh.length,
        ]);
    }

    // Answer in input order: a repeated event_id gets the row it names.
    let next = head;
    const byClientId = new Map(existing);
    return inputs.map((input) => {
      const known = input.event_id ? byClientId.get(input.event_id) : undefined;
      if (known) return { event: toView(known), created: false };
      const row = inserted.get(++next)!;
      if (input.event_id) byClientId.set(input.event_id, row);
      return { event: toView(row), created: true };
    });
  }

  /** The tenant's last committed `seq` (0 before its first event). */
  currentSeq(tenantId: string): Promise<number> {
    return this.tenantDb.runFor(tenantId, async (manager) => {
      const rows = await manager.query<Array<{ seq: string }>>(
        'select seq from event_seqs where tenant_id = $1',
        [tenantId],
      );
      return rows.length ? Number(rows[0].seq) : 0;
    });
  }

  /** Events with `after < seq ≤ upTo`, in `seq` order, at most `limit` (optionally of some types). */
  replay(
    tenantId: string,
    after: number,
    upTo: number,
    limit: number,
    eventTypes?: string[],
  ): Promise<EventView[]> {
    return this.tenantDb.runFor(tenantId, async (manager) => {
      const rows = await manager.query<EventRow[]>(
        `select ${COLUMNS} from events
          where tenant_id = $1 and seq > $2 and seq <= $3 and ($4::text[] is null or event_type = any($4::text[]))
          order by seq limit $5`,
        [tenantId, after, upTo, eventTypes ?? null, limit],
      );
      return rows.map(toView);
    });
  }

  /** Newest first (by timestamp, then seq); filters combine. */
  list(query: ListEventsQuery): Promise<Page<EventView>> {
    const params: unknown[] = [];
    const where: string[] = [];
    const param = (value: unknown) => `$${params.push(value)}`;
    return this.tenantDb.run(async (manager) => {
      const tenantId = this.tenantOf();
      where.push(`tenant_id = ${param(tenantId)}`);
      if (query.event_type) where.push(`event_type = ${param(query.event_type)}`);
      if (query.source) where.push(`source = ${param(query.source)}`);
      if (query.search)
        where.push(`metadata::text ilike ${param(likePattern(query.search))} escape '\\'`);
      if (query.since) where.push(`timestamp >= ${param(query.since)}::timestamptz`);
      if (query.until) where.push(`timestamp < ${param(query.until)}::timestamptz`);
      if (query.cursor) {
        const [at, seq] = listCursor.decode(query.cursor);
        where.push(`(timestamp, seq) < (${param(at)}::timestamptz, ${param(seq)}::bigint)`);
      }
      // The cursor carries the instant with its microseconds, read in SQL (a Date keeps milliseconds).
      const rows = await manager.query<Array<EventRow & { cursor_at: string }>>(
        `select ${COLUMNS}, ${cursorInstantSql('"timestamp"')} as cursor_at
          from events where ${where.join(' and ')}
          order by timestamp desc, seq desc limit ${param(query.limit + 1)}`,
        params,
      );
      return toPage(rows, query.limit, toView, (row) =>
        listCursor.encode([row.cursor_at, row.seq]),
      );
    });
  }

  /** Totals by type and by time bucket over [since, until) (default: the last 24 hours). */
  stats(query: StatsQuery): Promise<EventStats> {
    const until = query.until ? new Date(query.until) : new Date();
    const since = query.since ? new Date(query.since) : new Date(until.getTime() - 86_400_000);
    if (since >= until)
      throw commonError('COMMON.VALIDATION', 'since must be before until', [
        { field: 'since', message: 'must be before until' },
      ]);
    if ((until.getTime() - since.getTime()) / BUCKET_MS[query.bucket] > MAX_BUCKETS)
      throw commonError(
        'COMMON.VALIDATION',
        `Too many ${query.bucket} buckets in this range (at most ${MAX_BUCKETS}); choose a larger bucket`,
        [{ field: 'bucket', message: 'too fine for the range' }],
      );
    // bucket is one of three words checked by the schema: safe to write into the SQL.
    // (UTC wall time: cheaper per row than the time zone form of date_trunc.)
    const bucketSql = `date_trunc('${query.bucket}', timestamp at time zone 'UTC')`;
    return this.tenantDb.run(async (manager) => {
      const tenantId = this.tenantOf();
      const rows = await manager.query<
        Array<{
          event_type: string | null;
          bucket: Date | null;
          count: string;
          by_type: number;
          by_time: number;
        }>
      >(
        // One hashed pass into (type, bucket) cells, then the three totals over the cells.
        `with cells as materialized (
           select event_type, ${bucketSql} as bucket, count(*) as count
             from events
            where tenant_id = $1 and timestamp >= $2 and timestamp < $3
            group by 1, 2)
         select event_type, null::timestamptz as bucket, sum(count) as count, 0 as by_time, 1 as by_type
           from cells group by event_type
         union all
         select null, bucket at time zone 'UTC', sum(count), 1, 0 from cells group by bucket
         union all
         select null, null, coalesce(sum(count), 0), 1, 1 from cells`,
        [tenantId, since.toISOString(), until.toISOString()],
      );
      const stats: EventStats = { total: 0, by_type: [], by_time: [] };
      for (const row of rows) {
        const count = Number(row.count);
        if (row.by_type && row.by_time) stats.total = count;
        else if (row.by_time)
          stats.by_time.push({ bucket_start: row.bucket!.toISOString(), count });
        else stats.by_type.push({ event_type: row.event_type!, count });
      }
      stats.by_type.sort((a, b) => b.count - a.count || a.event_type.localeCompare(b.event_type));
      stats.by_time.sort((a, b) => a.bucket_start.localeCompare(b.bucket_start));
      return stats;
    });
  }

  private tenantOf(): string {
    return this.context.tenantId;
  }
}
