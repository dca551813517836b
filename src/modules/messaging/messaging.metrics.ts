import { counter, gauge, histogram, OTHER_TENANT, tenantLabel } from '../../shared/metrics';

/**
 * Per tenant/queue series, bounded: `tenant_id` by the shared cap (tenantLabel), and the queues of
 * a labelled tenant by MESSAGING_MAX_QUEUES_PER_TENANT; the tenants past the cap share `other`,
 * queue names included.
 */
export function metricLabels(tenantId: string, queueName: string) {
  const tenant = tenantLabel(tenantId);
  return { tenant_id: tenant, queue_name: tenant === OTHER_TENANT ? OTHER_TENANT : queueName };
}

const labelNames = ['tenant_id', 'queue_name'] as const;

export const messagesPublished = counter({
  name: 'tessera_messaging_published_total',
  help: 'Messages accepted (202) by queue',
  labelNames,
});
export const messagesProcessed = counter({
  name: 'tessera_messaging_processed_total',
  help: 'Messages whose outcome was stored as processed',
  labelNames,
});
export const messagesFailed = counter({
  name: 'tessera_messaging_failed_total',
  help: 'Messages dead-lettered after their attempts',
  labelNames,
});
export const messagesRetried = counter({
  name: 'tessera_messaging_retried_total',
  help: 'Failed attempts sent to a delay queue',
  labelNames,
});
export const processingSeconds = histogram({
  name: 'tessera_messaging_processing_seconds',
  help: 'Handler time per attempt, by outcome',
  labelNames: [...labelNames, 'outcome'] as const,
  buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
});
export const inFlightGauge = gauge({
  name: 'tessera_messaging_in_flight',
  help: 'Handlers running on this instance',
  labelNames,
});
export const workersGauge = gauge({
  name: 'tessera_messaging_workers',
  help: 'Configured workers per queue on this instance',
  labelNames,
});
export const queueDepthGauge = gauge({
  name: 'tessera_messaging_queue_depth',
  help: 'Ready messages in the work queue (sampled by status routes)',
  labelNames,
});
export const unconsumableGauge = gauge({
  name: 'tessera_messaging_queue_unconsumable',
  help: 'Queues this instance should consume but cannot (1; the status routes say why)',
  labelNames,
});
export const policyAppliedGauge = gauge({
  name: 'tessera_messaging_policy_applied',
  help: "1 when the work queues' limit policy is set on the broker, else 0 (queues unbounded)",
});
export const relayed = counter({
  name: 'tessera_messaging_relayed_total',
  help: 'Outbox rows published by the relay (committed, never confirmed)',
});
export const swept = counter({
  name: 'tessera_messaging_swept_total',
  help: 'Messages left queued/processing past their lease with no outbox row, republished by the sweep',
});
