import { FastifyAdapter } from '@nestjs/platform-fastify';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { AppConfig } from '../config';

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** Paths of the original systems, served as aliases of the canonical `/api/v1` routes. */
const LEGACY_PREFIXES =
  /^\/(auth|location|tenants?|retry|streaming|messages|consumers|events)(\/|\?|$)/;

export function requestIdOf(req: IncomingMessage): string {
  const sent = req.headers['x-request-id'];
  return typeof sent === 'string' && REQUEST_ID.test(sent) ? sent : randomUUID();
}

export function createFastifyAdapter(config: AppConfig): FastifyAdapter {
  return new FastifyAdapter({
    bodyLimit: config.bodyLimitBytes,
    // A `__proto__` / `constructor.prototype` key in a JSON body is dropped, not a 400: free-form
    // objects (event metadata …) accept any key in the OpenAPI document, and poisoning stays impossible.
    onProtoPoisoning: 'remove',
    onConstructorPoisoning: 'remove',
    trustProxy: config.trustProxy,
    genReqId: requestIdOf,
    rewriteUrl: (req: IncomingMessage) => {
      const url = req.url ?? '/';
      return LEGACY_PREFIXES.test(url) ? `/api/v1${url}` : url;
    },
  });
}
