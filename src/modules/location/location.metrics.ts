import { counter, gauge, histogram } from '../../shared/metrics';

export const updatesAccepted = counter({
  name: 'tessera_location_updates_accepted_total',
  help: 'Location updates answered 202 (acknowledged by Kafka)',
});
export const updatesRefused = counter({
  name: 'tessera_location_updates_unavailable_total',
  help: 'Location updates answered 503 because Kafka did not acknowledge them in time',
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
});
export const updatesDelivered = counter({
  name: 'tessera_location_delivered_total',
  help: 'Updates delivered to the third party, by path (stream, retry)',
  labelNames: ['path'] as const,
});
export const updatesDeadLettered = counter({
  name: 'tessera_location_dead_lettered_total',
  help: 'Records produced to the dead-letter topic, by reason',
  labelNames: ['reason'] as const,
});
export const ledgerOutcomes = counter({
  name: 'tessera_location_ledger_outcomes_total',
  help: 'Retry ledger transitions (recorded, retried, resolved, permanently_failed)',
  labelNames: ['outcome'] as const,
});
export const deliverySeconds = histogram({
  name: 'tessera_location_delivery_seconds',
  help: 'Third-party delivery latency, by outcome (ok, retryable, failed)',
  labelNames: ['outcome'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
});

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
