import { registerAs } from '@nestjs/config';
import { z } from 'zod';
import { parseEnv } from './config.errors';
import { positiveInt, urlWithProtocol } from './env-schemas';

const schema = z.object({
  DATABASE_URL: urlWithProtocol(['postgres', 'postgresql']),
  DATABASE_MIGRATION_URL: urlWithProtocol(['postgres', 'postgresql']).optional(),
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
    poolMax: env.DATABASE_POOL_MAX,
    statementTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS,
  };
});
export type DatabaseConfig = ReturnType<typeof databaseConfig>;
