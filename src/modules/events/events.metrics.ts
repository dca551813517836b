import { counter, gauge, histogram } from '../../shared/metrics';

// Every counter and histogram of a tenant's work carries `tenant_id` (tenantLabel: bounded series).

export const eventsIngested = counter({
  name: 'tessera_events_ingested_total',
  help: 'Events stored, by source (api for POST /events, or the module of a lifecycle fact)',
  labelNames: ['source', 'tenant_id'] as const,
});
export const eventsRejected = counter({
  name: 'tessera_events_rejected_total',
  help: 'Event ingestions refused, by reason (rate_limited, foreign_tenant, too_large, too_deep, invalid, limiter_down)',
  labelNames: ['reason', 'tenant_id'] as const,
});
export const eventsDuplicates = counter({
  name: 'tessera_events_duplicates_total',
  help: 'Ingestions answered with the stored event of a repeated event_id',
  labelNames: ['tenant_id'] as const,
});
export const ingestSeconds = histogram({
  name: 'tessera_events_ingest_seconds',
  help: 'Time of the ingestion transaction (seq counter lock held for its length)',
  labelNames: ['tenant_id'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
});
export const ingestBatchRequests = histogram({
  name: 'tessera_events_ingest_batch_requests',
  help: 'Requests of one tenant that shared one ingestion transaction',
  labelNames: ['tenant_id'] as const,
  buckets: [1, 2, 4, 8, 16, 32, 64, 100],
});
export const wsPushes = counter({
  name: 'tessera_ws_pushes_total',
  help: 'Event messages written to WebSocket clients',
  labelNames: ['tenant_id'] as const,
});
export const wsPushLatency = histogram({
  name: 'tessera_ws_push_latency_seconds',
  help: 'From the publication after commit to the write to a socket',
  labelNames: ['tenant_id'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
});
export const wsReplayed = counter({
  name: 'tessera_ws_replayed_total',
  help: 'Events replayed from the database to a resuming socket, and gaps answered',
  labelNames: ['kind', 'tenant_id'] as const,
});

export const feedFactsDropped = counter({
  name: 'tessera_feed_facts_dropped_total',
  help: 'Lifecycle facts the feed dropped, by reason (tenant_limit and total_limit: more were waiting than it holds; failed: not stored after every attempt, or refused)',
  labelNames: ['reason', 'tenant_id'] as const,
});
export const feedFlushRetries = counter({
  name: 'tessera_feed_flush_retries_total',
  help: 'Lifecycle fact batches written again after a failed write',
  labelNames: ['tenant_id'] as const,
});
/** Feed listeners of this process (every app instance in it). */
export const feedSources = new Set<{ heldCount(): number }>();
gauge({
  name: 'tessera_feed_facts_held',
  help: 'Lifecycle facts accepted and waiting to be stored or pushed',
  collect() {
    let total = 0;
    for (const source of feedSources) total += source.heldCount();
    this.set(total);
  },
});
