import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { AppConfig } from '../config';

/** Request headers a browser client of the API sends besides the CORS-safelisted ones. */
const ALLOWED_HEADERS = [
  'Authorization',
  'Content-Type',
  'Idempotency-Key',
  'X-API-Key',
  'X-Request-ID',
  'X-Tenant-ID',
];

/** Answer headers a browser client may read (the safelisted ones need no mention). */
const EXPOSED_HEADERS = [
  'Idempotent-Replayed',
  'Retry-After',
  'X-RateLimit-Limit',
  'X-RateLimit-Remaining',
  'X-Request-ID',
];

/**
 * CORS through @fastify/cors (Nest's `enableCors` on Fastify), off unless origins are configured:
 * an allowed origin is echoed in `Access-Control-Allow-Origin` and its preflight answered 204;
 * any other origin gets no CORS headers, so the browser refuses the answer. No credentials mode:
 * the API authenticates with bearer tokens and API keys, never cookies.
 */
export function configureCors(app: NestFastifyApplication, config: AppConfig): void {
  const origins = config.corsAllowedOrigins;
  if (origins.length === 0) return;
  app.enableCors({
    origin: origins.includes('*') ? '*' : origins,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: ALLOWED_HEADERS,
    exposedHeaders: EXPOSED_HEADERS,
    credentials: false,
    maxAge: config.corsMaxAgeSeconds,
  });
}
