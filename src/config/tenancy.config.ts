import { registerAs } from '@nestjs/config';
import { z } from 'zod';
import { parseEnv } from './config.errors';
import { PG_SSL_MODES } from './database.config';
import { nonNegativeInt, pem, port, positiveInt } from './env-schemas';

const schema = z.object({
  TENANT_SECRET_PREFIX: z
    .string()
    .regex(
      /^[A-Za-z0-9/_+=.@-]+$/,
      'expected a Secrets Manager name prefix (letters, digits, /_+=.@-)',
    )
    .transform((value) => value.replace(/\/+$/, ''))
    .default('tessera/tenants'),
  // The default tenant cluster: where a new tenant's secret points (runtime role) ...
  TENANT_DATABASE_HOST: z.string().min(1).default('127.0.0.1'),
  TENANT_DATABASE_PORT: port(5432),
  TENANT_DATABASE_NAME: z.string().min(1).default('tessera_tenants'),
  TENANT_DATABASE_USER: z.string().min(1).default('tessera_app'),
  TENANT_DATABASE_PASSWORD: z.string().min(1).default('tessera_app'),
  // ... and the owner role that applies the tenant migrations there.
  TENANT_DATABASE_OWNER_USER: z.string().min(1).default('tessera_owner'),
  TENANT_DATABASE_OWNER_PASSWORD: z.string().min(1).default('tessera_owner'),
  // TLS to the default cluster, written into each new tenant's secret (sslmode, sslrootcert).
  TENANT_DATABASE_SSL_MODE: z
    .enum(PG_SSL_MODES, { error: `expected ${PG_SSL_MODES.join(', ')}` })
    .default('disable'),
  TENANT_DATABASE_SSL_CA: pem('CERTIFICATE').optional(),
  TENANT_POOL_CONNECTIONS: positiveInt(10),
  TENANT_POOL_IDLE_TIMEOUT_MS: positiveInt(30_000),
  TENANT_STATEMENT_TIMEOUT_MS: positiveInt(15_000),
  TENANT_SECRET_CACHE_TTL_MS: positiveInt(5 * 60_000),
  TENANT_SECRET_NEGATIVE_TTL_MS: positiveInt(30_000),
  TENANT_SECRET_STALE_RETRY_MS: positiveInt(15_000),
  TENANT_SECRET_FETCH_TIMEOUT_MS: positiveInt(2_000),
  TENANT_SECRET_CACHE_MAX: positiveInt(10_000),
  TENANT_POOL_CACHE_MAX: positiveInt(50),
  TENANT_POOL_IDLE_EVICT_MS: positiveInt(10 * 60_000),
  API_KEY_CACHE_TTL_MS: nonNegativeInt(10_000),
});

export const tenancyConfig = registerAs('tenancy', () => {
  const env = parseEnv('tenancy', schema);
  return {
    /** Tenant secrets are named `${secretPrefix}/${tenantId}/database`. */
    secretPrefix: env.TENANT_SECRET_PREFIX,
    defaultCluster: {
      host: env.TENANT_DATABASE_HOST,
      port: env.TENANT_DATABASE_PORT,
      database: env.TENANT_DATABASE_NAME,
      username: env.TENANT_DATABASE_USER,
      password: env.TENANT_DATABASE_PASSWORD,
      ownerUsername: env.TENANT_DATABASE_OWNER_USER,
      ownerPassword: env.TENANT_DATABASE_OWNER_PASSWORD,
      tls: { mode: env.TENANT_DATABASE_SSL_MODE, ca: env.TENANT_DATABASE_SSL_CA },
    },
    pool: {
      connections: env.TENANT_POOL_CONNECTIONS,
      idleTimeoutMs: env.TENANT_POOL_IDLE_TIMEOUT_MS,
      statementTimeoutMs: env.TENANT_STATEMENT_TIMEOUT_MS,
    },
    secretCache: {
      ttlMs: env.TENANT_SECRET_CACHE_TTL_MS,
      negativeTtlMs: env.TENANT_SECRET_NEGATIVE_TTL_MS,
      staleRetryMs: env.TENANT_SECRET_STALE_RETRY_MS,
      /** One read of a secret (retries included) gives up after this: stale served, else 503. */
      fetchTimeoutMs: env.TENANT_SECRET_FETCH_TIMEOUT_MS,
      max: env.TENANT_SECRET_CACHE_MAX,
    },
    poolCache: { max: env.TENANT_POOL_CACHE_MAX, idleEvictMs: env.TENANT_POOL_IDLE_EVICT_MS },
    apiKeyCacheTtlMs: env.API_KEY_CACHE_TTL_MS,
  };
});
export type TenancyConfig = ReturnType<typeof tenancyConfig>;
