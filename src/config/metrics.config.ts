import { registerAs } from '@nestjs/config';
import { z } from 'zod';
import { parseEnv } from './config.errors';

/** An empty value reads as unset (a line `METRICS_TOKEN=` in a .env file). */
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => (value === '' ? undefined : value), schema.optional());

// METRICS_TOKEN_FILE (the token in a file) is read by parseEnv, as every variable's _FILE form.
const schema = z.object({
  // 0 asks for a free port (tests read the chosen one from the running server).
  METRICS_PORT: optional(
    z.coerce
      .number({ error: 'expected a port number' })
      .int('expected a port number')
      .min(0, 'expected a port number from 0 to 65535')
      .max(65535, 'expected a port number from 0 to 65535'),
  ),
  METRICS_HOST: optional(z.string().min(1)),
  METRICS_TOKEN: optional(z.string().min(16, 'expected at least 16 characters')),
  METRICS_TENANT_SERIES_MAX: optional(
    z.coerce
      .number({ error: 'expected a whole number' })
      .int('expected a whole number')
      .min(0, 'expected a number from 0 to 10000')
      .max(10_000, 'expected a number from 0 to 10000'),
  ),
});

/**
 * Who may read /metrics (every tenant's ids and queue names are in it): a port of its own, a
 * bearer token, or both. With neither, /metrics is served on the main port outside production
 * only.
 */
export const metricsConfig = registerAs('metrics', () => {
  const env = parseEnv('metrics', schema);
  return {
    /** A second listener that serves /metrics alone; the main port then answers 404 for it. */
    port: env.METRICS_PORT,
    /** Its interface (default: HOST). */
    host: env.METRICS_HOST ?? process.env.HOST ?? '127.0.0.1',
    /** `Authorization: Bearer <token>` required on whichever port serves /metrics. */
    token: env.METRICS_TOKEN,
    /** Tenants with a `tenant_id` label value of their own; later ones are counted under `other`. */
    tenantSeriesMax: env.METRICS_TENANT_SERIES_MAX ?? 100,
  };
});
export type MetricsConfig = ReturnType<typeof metricsConfig>;
