import { registerAs } from '@nestjs/config';
import { z } from 'zod';
import { parseEnv } from './config.errors';
import { pem, positiveInt, urlWithProtocol } from './env-schemas';

/** libpq's sslmode values honoured (the ones that say what is verified). */
export const PG_SSL_MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const;
export type PgSslMode = (typeof PG_SSL_MODES)[number];

/** URL parameters that would override the TLS settings (node-postgres merges them last). */
export const PG_URL_TLS_PARAMS = ['ssl', 'sslmode', 'sslrootcert', 'sslcert', 'sslkey'];

/** A PostgreSQL URL whose TLS comes from DATABASE_SSL_MODE, never from its own parameters. */
const postgresUrl = () =>
  urlWithProtocol(['postgres', 'postgresql']).refine(
    (value) => !PG_URL_TLS_PARAMS.some((name) => new URL(value).searchParams.has(name)),
    { message: 'set TLS with DATABASE_SSL_MODE and DATABASE_SSL_CA, not in the URL (sslmode …)' },
  );

const schema = z.object({
  DATABASE_URL: postgresUrl(),
  DATABASE_MIGRATION_URL: postgresUrl().optional(),
  DATABASE_SSL_MODE: z
    .enum(PG_SSL_MODES, { error: `expected ${PG_SSL_MODES.join(', ')}` })
    .default('disable'),
  DATABASE_SSL_CA: pem('CERTIFICATE').optional(),
  DATABASE_POOL_MAX: positiveInt(10),
  DATABASE_STATEMENT_TIMEOUT_MS: positiveInt(15_000),
});

export const databaseConfig = registerAs('database', () => {
  const env = parseEnv('database', schema);
  return {
    /** The runtime role: owns nothing, cannot bypass row-level security. */
    url: env.DATABASE_URL,
    /** The owner role that runs migrations (defaults to the runtime URL). */
    migrationUrl: env.DATABASE_MIGRATION_URL ?? env.DATABASE_URL,
    /** TLS to the platform database (both roles): libpq's sslmode and an optional CA bundle. */
    tls: { mode: env.DATABASE_SSL_MODE, ca: env.DATABASE_SSL_CA },
    poolMax: env.DATABASE_POOL_MAX,
    statementTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS,
  };
});
export type DatabaseConfig = ReturnType<typeof databaseConfig>;
