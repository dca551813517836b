import { registerAs } from '@nestjs/config';
import { z } from 'zod';
import { parseEnv } from './config.errors';
import { roleRunsWorkers } from './app.config';
import { optionalFlag, positiveInt } from './env-schemas';

const delays = z
  .string()
  .default('1000,5000,30000')
  .transform((value) =>
    value
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean)
      .map(Number),
  )
  .pipe(
    z
      .array(z.number().int().positive().max(86_400_000), {
        error: 'expected comma-separated delays in ms',
      })
      .min(1, 'expected at least one delay')
      .max(10, 'expected at most 10 delays'),
  );

const schema = z
  .object({
    RABBITMQ_CONSUMER_CHANNELS: positiveInt(4),
    MESSAGING_QUEUE_MAX_LENGTH: positiveInt(100_000),
    MESSAGING_MAX_QUEUES_PER_TENANT: positiveInt(20),
    MESSAGING_RETRY_DELAYS_MS: delays,
    MESSAGING_PUBLISH_TIMEOUT_MS: positiveInt(5_000),
    MESSAGING_RELAY_INTERVAL_MS: positiveInt(2_000),
    MESSAGING_RELAY_AFTER_MS: positiveInt(5_000),
    MESSAGING_WEBHOOK_TIMEOUT_MS: positiveInt(5_000),
    MESSAGING_DEFAULT_WORKERS: positiveInt(3),
    MESSAGING_MAX_ATTEMPTS: positiveInt(3),
    // Unset: on unless TESSERA_ROLE=api.
    MESSAGING_WORKERS_ENABLED: optionalFlag(),
    MESSAGING_WEBHOOK_SIGNING_SECRET: z.string().min(16).optional(),
    MESSAGING_CLAIM_LEASE_MS: positiveInt(30_000),
    MESSAGING_WORKER_DB_STATEMENTS: positiveInt(4),
  })
  .refine((env) => env.MESSAGING_CLAIM_LEASE_MS > env.MESSAGING_WEBHOOK_TIMEOUT_MS, {
    // A lease shorter than a handler's run would let a second worker take a message in flight.
    message: 'must be longer than MESSAGING_WEBHOOK_TIMEOUT_MS',
    path: ['MESSAGING_CLAIM_LEASE_MS'],
  });

export const messagingConfig = registerAs('messaging', () => {
  const env = parseEnv('messaging', schema);
  return {
    consumerChannels: env.RABBITMQ_CONSUMER_CHANNELS,
    queueMaxLength: env.MESSAGING_QUEUE_MAX_LENGTH,
    maxQueuesPerTenant: env.MESSAGING_MAX_QUEUES_PER_TENANT,
    retryDelaysMs: env.MESSAGING_RETRY_DELAYS_MS,
    publishTimeoutMs: env.MESSAGING_PUBLISH_TIMEOUT_MS,
    relayIntervalMs: env.MESSAGING_RELAY_INTERVAL_MS,
    relayAfterMs: env.MESSAGING_RELAY_AFTER_MS,
    webhookTimeoutMs: env.MESSAGING_WEBHOOK_TIMEOUT_MS,
    defaultWorkers: env.MESSAGING_DEFAULT_WORKERS,
    maxAttempts: env.MESSAGING_MAX_ATTEMPTS,
    workersEnabled: env.MESSAGING_WORKERS_ENABLED ?? roleRunsWorkers(),
    webhookSigningSecret: env.MESSAGING_WEBHOOK_SIGNING_SECRET ?? null,
    claimLeaseMs: env.MESSAGING_CLAIM_LEASE_MS,
    workerDbStatements: env.MESSAGING_WORKER_DB_STATEMENTS,
  };
});
export type MessagingConfig = ReturnType<typeof messagingConfig>;
