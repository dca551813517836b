import type { FastifyInstance } from 'fastify';
import { AppError } from '../shared/errors';

interface RouteMethods {
  pattern: RegExp;
  methods: Set<string>;
}

/**
 * A path that exists, asked with a method it does not serve, answers 405 with `Allow` (RFC 9110)
 * instead of a 404 that says the path is unknown. Routes are collected as Fastify registers
 * them; the check runs only for requests no route matched. HEAD (added by Fastify for every GET)
 * is left out of `Allow`, as the OpenAPI document lists only what the controllers declare.
 */
export function answerMethodNotAllowed(fastify: FastifyInstance): void {
  const routes = new Map<string, RouteMethods>();
  fastify.addHook('onRoute', (route) => {
    const entry = routes.get(route.url) ?? { pattern: patternOf(route.url), methods: new Set() };
    for (const method of ([] as string[]).concat(route.method)) {
      if (method !== 'HEAD') entry.methods.add(method);
    }
    routes.set(route.url, entry);
  });

  fastify.addHook('onRequest', (request, _reply, done) => {
    if (!request.is404) return done();
    const path = request.url.split('?')[0];
    const allowed = new Set<string>();
    for (const { pattern, methods } of routes.values()) {
      if (pattern.test(path)) for (const method of methods) allowed.add(method);
    }
    if (allowed.size === 0 || allowed.has(request.method)) return done();
    const allow = [...allowed].sort().join(', ');
    done(
      new AppError(
        'COMMON.METHOD_NOT_ALLOWED',
        405,
        `${request.method} is not allowed here (allowed: ${allow})`,
      ).withHeaders({ allow }),
    );
  });
}

/** `/api/v1/tenants/:id/users` → a regex matching one concrete path of it. */
function patternOf(url: string): RegExp {
  const source = url
    .split('/')
    .map((segment) => {
      if (segment === '*') return '.*';
      if (segment.startsWith(':')) return '[^/]+';
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return new RegExp(`^${source}/?$`);
}
