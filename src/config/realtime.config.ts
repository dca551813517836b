import { registerAs } from '@nestjs/config';
import { z } from 'zod';
import { parseEnv } from './config.errors';
import { booleanFlag, positiveInt } from './env-schemas';

const origins = z
  .string()
  .default('')
  .transform((value) =>
    value
      .split(',')
      .map((item) => item.trim().replace(/\/+$/, ''))
      .filter(Boolean),
  );

/** The `/api/v1/ws` gateway: admission and sockets (the variables keep their EVENTS_ names). */
const schema = z.object({
  EVENTS_QUERY_API_KEY: booleanFlag(false),
  EVENTS_WS_ALLOWED_ORIGINS: origins,
  EVENTS_WS_MAX_SOCKETS_PER_TENANT: positiveInt(1_000),
  EVENTS_WS_MAX_SOCKETS_PER_KEY: positiveInt(200),
  EVENTS_WS_PING_INTERVAL_MS: positiveInt(30_000),
  EVENTS_WS_MAX_BUFFERED_BYTES: positiveInt(1024 * 1024),
});

export const realtimeConfig = registerAs('realtime', () => {
  const env = parseEnv('realtime', schema);
  return {
    /** Accept `?api_key=` at the WebSocket upgrade (it leaks into access logs). */
    queryApiKey: env.EVENTS_QUERY_API_KEY,
    /** Browser origins allowed besides the server's own; `*` allows any. */
    allowedOrigins: env.EVENTS_WS_ALLOWED_ORIGINS,
    maxSocketsPerTenant: env.EVENTS_WS_MAX_SOCKETS_PER_TENANT,
    maxSocketsPerKey: env.EVENTS_WS_MAX_SOCKETS_PER_KEY,
    pingIntervalMs: env.EVENTS_WS_PING_INTERVAL_MS,
    /** A socket whose unsent bytes pass this is closed with 1013. */
    maxBufferedBytes: env.EVENTS_WS_MAX_BUFFERED_BYTES,
  };
});
export type RealtimeConfig = ReturnType<typeof realtimeConfig>;
