import { counter, gauge, histogram } from '../../shared/metrics';

// Every counter and histogram of one tenant's work carries `tenant_id` (tenantLabel: bounded
// series); the producer's batches mix tenants and are counted per topic only.

export const updatesAccepted = counter({
  name: 'tessera_location_updates_accepted_total',
  help: 'Location updates answered 202 (acknowledged by Kafka)',
  labelNames: ['tenant_id'] as const,
});
export const updatesRefused = counter({
  name: 'tessera_location_updates_unavailable_total',
  help: 'Location updates answered 503 because Kafka did not acknowledge them in time',
  labelNames: ['tenant_id'] as const,
});
export const updatesProduced = counter({
  name: 'tessera_location_updates_produced_total',
  help: 'Location records acknowledged by Kafka, by topic',
  labelNames: ['topic'] as const,
});
export const producerBatchSize = histogram({
  name: 'tessera_location_producer_batch_size',
  help: 'Records per produce request of the coalescing batcher',
  buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
});
export const locationsPersisted = counter({
  name: 'tessera_location_persisted_total',
  help: 'Location rows written to tenant databases (duplicates of an event id not counted)',
  labelNames: ['tenant_id'] as const,
});
export const updatesDelivered = counter({
  name: 'tessera_location_delivered_total',
  help: 'Updates delivered to the third party, by path (stream, retry)',
  labelNames: ['path', 'tenant_id'] as const,
});
export const updatesDeadLettered = counter({
  name: 'tessera_location_dead_lettered_total',
  help: 'Records produced to the dead-letter topic, by reason',
  labelNames: ['reason', 'tenant_id'] as const,
});
export const ledgerOutcomes = counter({
  name: 'tessera_location_ledger_outcomes_total',
  help: 'Retry ledger transitions (recorded, retried, resolved, permanently_failed)',
  labelNames: ['outcome', 'tenant_id'] as const,
});
export const deliverySeconds = histogram({
  name: 'tessera_location_delivery_seconds',
  help: 'Third-party delivery latency, by outcome (ok, retryable, failed)',
  labelNames: ['outcome', 'tenant_id'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
});
/** Updates per POST to targets that take batches. */
export const deliveryBatchItems = histogram({
  name: 'tessera_location_delivery_batch_items',
  help: 'Updates per batched delivery (targets that take batches only)',
  labelNames: ['tenant_id'] as const,
  buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500],
});
/** From the 202 (received_at) to the row written: how far the persister is behind. */
export const persistLagSeconds = histogram({
  name: 'tessera_location_persist_lag_seconds',
  help: 'From an update answered 202 to its row in the tenant database',
  labelNames: ['tenant_id'] as const,
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
});
/** From the 202 (received_at) to the third party's 2xx on the stream path: delivery lag. */
export const deliveryLagSeconds = histogram({
  name: 'tessera_location_delivery_lag_seconds',
  help: 'From an update answered 202 to its delivery by the streamer (retries not included)',
  labelNames: ['tenant_id'] as const,
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
});

/** Seconds from an RFC 3339 instant to `now` (0 when unreadable or ahead of the clock). */
export function lagSeconds(now: number, since: string): number {
  const at = Date.parse(since);
  return Number.isFinite(at) ? Math.max(0, now - at) / 1000 : 0;
}

/** Breaker states by target, read when /metrics is scraped. */
export const breakerSources = new Set<{ breakerStates(): Record<string, number> }>();
gauge({
  name: 'tessera_location_breakers_open',
  help: 'Delivery circuit breakers currently open (0 = closed, half-open counts as open)',
  collect() {
    let open = 0;
    for (const source of breakerSources)
      for (const state of Object.values(source.breakerStates())) open += state > 0 ? 1 : 0;
    this.set(open);
  },
});
