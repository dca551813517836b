import { registerAs } from '@nestjs/config';
import { z } from 'zod';
import { parseEnv } from './config.errors';
import { nonNegativeInt, port, positiveInt } from './env-schemas';

/** What a process runs: `api` serves HTTP and WebSocket, `worker` the background work, `all` both. */
export const PROCESS_ROLES = ['all', 'api', 'worker'] as const;
export type ProcessRole = (typeof PROCESS_ROLES)[number];

const role = z.enum(PROCESS_ROLES, { error: 'expected all, api or worker' }).default('all');

const schema = z.object({
  TESSERA_ROLE: role,
  NODE_ENV: z
    .enum(['development', 'test', 'production'], {
      error: 'expected development, test or production',
    })
    .default('development'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: port(3000),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'expected fatal, error, warn, info, debug, trace or silent',
    })
    .default('info'),
  BODY_LIMIT_BYTES: positiveInt(1024 * 1024),
  SHUTDOWN_TIMEOUT_MS: positiveInt(30_000),
  SHUTDOWN_DRAIN_DELAY_MS: nonNegativeInt(0),
  TRUST_PROXY: z
    .string()
    .regex(/^(false|true|\d+|[\d.:a-fA-F/]+(,\s*[\d.:a-fA-F/]+)*)$/, {
      message: 'expected false, true, a hop count, or comma-separated proxy addresses/CIDRs',
    })
    .default('false'),
  // Comma-separated origins allowed to call the API from a browser; empty: no CORS answer at all.
  CORS_ALLOWED_ORIGINS: z
    .string()
    .default('')
    .transform((value) =>
      value
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean),
    )
    .pipe(
      z.array(
        z.string().regex(/^(\*|https?:\/\/[a-z0-9.-]+(:\d{1,5})?)$/i, {
          message: 'expected * or origins like https://app.example.com, comma-separated',
        }),
      ),
    ),
  CORS_MAX_AGE_SECONDS: nonNegativeInt(600),
});

/** Fastify's trustProxy: which X-Forwarded-For hops to believe when finding the client's address. */
function trustProxy(value: string): boolean | number | string {
  if (value === 'false' || value === 'true') return value === 'true';
  return /^\d+$/.test(value) ? Number(value) : value;
}

/**
 * Whether this process runs background work (Kafka consumers, jobs, outbox relay, messaging
 * workers): the default of each `*_ENABLED` flag, which still wins when set. An invalid role is
 * reported by the app namespace's validation; here it counts as `all`.
 */
export function roleRunsWorkers(env: NodeJS.ProcessEnv = process.env): boolean {
  const parsed = role.safeParse(env.TESSERA_ROLE);
  return !parsed.success || parsed.data !== 'api';
}

const ROLE_FLAGS = [
  'LOCATION_CONSUMERS_ENABLED',
  'LOCATION_WORKERS_ENABLED',
  'MESSAGING_WORKERS_ENABLED',
] as const;

/** The background-work flags set against the role's default (`NAME=value`), for a start-up warning. */
export function flagsAgainstRole(env: NodeJS.ProcessEnv = process.env): string[] {
  const expected = roleRunsWorkers(env);
  return ROLE_FLAGS.filter((name) => {
    const value = env[name];
    return value !== undefined && (value === 'true' || value === '1') !== expected;
  }).map((name) => `${name}=${env[name]}`);
}

export const appConfig = registerAs('app', () => {
  const env = parseEnv('app', schema);
  return {
    role: env.TESSERA_ROLE,
    /** A `worker` serves health and metrics only; every other route answers 404. */
    servesApi: env.TESSERA_ROLE !== 'worker',
    env: env.NODE_ENV,
    host: env.HOST,
    port: env.PORT,
    logLevel: env.LOG_LEVEL,
    bodyLimitBytes: env.BODY_LIMIT_BYTES,
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    /** How long readiness answers 503 before the server stops taking requests (lets a load balancer notice). */
    shutdownDrainDelayMs: env.SHUTDOWN_DRAIN_DELAY_MS,
    /** Off by default: a client could otherwise pick its own address (and dodge per-IP limits). */
    trustProxy: trustProxy(env.TRUST_PROXY),
    /** Browser origins allowed to call the API (CORS); empty (the default): CORS is off. */
    corsAllowedOrigins: env.CORS_ALLOWED_ORIGINS,
    /** How long a browser may cache a preflight answer. */
    corsMaxAgeSeconds: env.CORS_MAX_AGE_SECONDS,
  };
});
export type AppConfig = ReturnType<typeof appConfig>;
