import { registerAs } from '@nestjs/config';
import { z } from 'zod';
import { parseEnv } from './config.errors';
import { roleRunsWorkers } from './app.config';
import { nonNegativeInt, optionalFlag, positiveInt, urlWithProtocol } from './env-schemas';

const hostList = z
  .string()
  .default('')
  .transform((value) =>
    value
      .split(',')
      .map((item) => item.trim().toLowerCase())
      .filter(Boolean),
  )
  .pipe(
    z.array(
      z
        .string()
        .regex(/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/, 'expected host or host:port entries'),
    ),
  );

const schema = z.object({
  THIRD_PARTY_ENDPOINT: urlWithProtocol(['http', 'https']).optional(),
  THIRD_PARTY_SIGNING_SECRET: z.string().min(16).optional(),
  LOCATION_DELIVERY_ALLOWED_HOSTS: hostList,
  LOCATION_DELIVERY_TIMEOUT_MS: positiveInt(5_000),
  LOCATION_DELIVERY_CONCURRENCY: positiveInt(64),
  LOCATION_DELIVERY_BATCHES_IN_FLIGHT: positiveInt(4),
  THIRD_PARTY_BATCH_MAX_ITEMS: positiveInt(1).pipe(
    z.number().max(500, 'expected at most 500 (1: one update per POST)'),
  ),
  THIRD_PARTY_BATCH_LINGER_MS: nonNegativeInt(0).pipe(
    z.number().max(1_000, 'expected at most 1000'),
  ),
  LOCATION_BREAKER_ERROR_PERCENT: positiveInt(50),
  LOCATION_BREAKER_RESET_MS: positiveInt(10_000),
  LOCATION_BREAKER_VOLUME: positiveInt(10),
  LOCATION_PRODUCE_TIMEOUT_MS: positiveInt(5_000),
  LOCATION_BATCH_LINGER_MS: nonNegativeInt(2),
  LOCATION_BATCH_MAX: positiveInt(500),
  LOCATION_PRODUCE_IN_FLIGHT: positiveInt(1),
  LOCATION_SESSION_CACHE_MS: nonNegativeInt(2_000),
  LOCATION_EXPIRY_INTERVAL_MS: positiveInt(1_000),
  LOCATION_RETRY_INTERVAL_MS: positiveInt(5_000),
  LOCATION_RETRY_BASE_MS: positiveInt(60_000),
  LOCATION_RETRY_MAX: positiveInt(8),
  LOCATION_RETRY_BATCH: positiveInt(50),
  LOCATION_TOPIC: z.string().min(1).default('location.updates'),
  LOCATION_DLQ_TOPIC: z.string().min(1).default('location.updates.dlq'),
  LOCATION_GROUP_PREFIX: z.string().min(1).default('tessera-location'),
  // Unset: on unless TESSERA_ROLE=api.
  LOCATION_CONSUMERS_ENABLED: optionalFlag(),
  LOCATION_WORKERS_ENABLED: optionalFlag(),
});

export const locationConfig = registerAs('location', () => {
  const env = parseEnv('location', schema);
  return {
    /** The operator's own target: trusted (http and internal addresses allowed), unlike tenants'. */
    thirdPartyEndpoint: env.THIRD_PARTY_ENDPOINT ?? null,
    thirdPartySigningSecret: env.THIRD_PARTY_SIGNING_SECRET ?? null,
    /** host or host:port entries that may resolve to non-public addresses and use http. */
    deliveryAllowedHosts: env.LOCATION_DELIVERY_ALLOWED_HOSTS,
    deliveryTimeoutMs: env.LOCATION_DELIVERY_TIMEOUT_MS,
    deliveryConcurrency: env.LOCATION_DELIVERY_CONCURRENCY,
    /** Batches of one (tenant, target) in flight at once, for targets that take batches. */
    deliveryBatchesInFlight: env.LOCATION_DELIVERY_BATCHES_IN_FLIGHT,
    /** The operator's endpoint in batches (null: one update per POST). */
    thirdPartyBatch:
      env.THIRD_PARTY_BATCH_MAX_ITEMS > 1
        ? { maxItems: env.THIRD_PARTY_BATCH_MAX_ITEMS, lingerMs: env.THIRD_PARTY_BATCH_LINGER_MS }
        : null,
    breaker: {
      errorThresholdPercentage: env.LOCATION_BREAKER_ERROR_PERCENT,
      resetTimeoutMs: env.LOCATION_BREAKER_RESET_MS,
      volumeThreshold: env.LOCATION_BREAKER_VOLUME,
    },
    produceTimeoutMs: env.LOCATION_PRODUCE_TIMEOUT_MS,
    batchLingerMs: env.LOCATION_BATCH_LINGER_MS,
    batchMax: env.LOCATION_BATCH_MAX,
    produceInFlight: env.LOCATION_PRODUCE_IN_FLIGHT,
    sessionCacheMs: env.LOCATION_SESSION_CACHE_MS,
    expiryIntervalMs: env.LOCATION_EXPIRY_INTERVAL_MS,
    retry: {
      intervalMs: env.LOCATION_RETRY_INTERVAL_MS,
      baseMs: env.LOCATION_RETRY_BASE_MS,
      maxRetries: env.LOCATION_RETRY_MAX,
      batch: env.LOCATION_RETRY_BATCH,
    },
    topic: env.LOCATION_TOPIC,
    dlqTopic: env.LOCATION_DLQ_TOPIC,
    /** Consumer groups: `<prefix>-persister`, `-streamer`, `-dlq`. */
    groupPrefix: env.LOCATION_GROUP_PREFIX,
    consumersEnabled: env.LOCATION_CONSUMERS_ENABLED ?? roleRunsWorkers(),
    workersEnabled: env.LOCATION_WORKERS_ENABLED ?? roleRunsWorkers(),
  };
});
export type LocationConfig = ReturnType<typeof locationConfig>;
