import helmet, { type FastifyHelmetOptions } from '@fastify/helmet';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/** Where a browser renders what the app answers: the dashboard and Swagger UI (pages and assets). */
const BROWSER_PATHS = /^\/(dashboard|docs)(\/|$)/;

/**
 * Same-origin scripts, styles and sockets only; no inline script or style anywhere (the dashboard
 * ships as files). Swagger UI's page carries two inline <style> blocks: /docs alone may use them.
 */
const CSP_DIRECTIVES = {
  defaultSrc: ["'self'"],
  baseUri: ["'self'"],
  connectSrc: ["'self'"],
  fontSrc: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  imgSrc: ["'self'", 'data:'],
  objectSrc: ["'none'"],
  scriptSrc: ["'self'"],
  scriptSrcAttr: ["'none'"],
  styleSrc: ["'self'"],
  upgradeInsecureRequests: null,
};

const DASHBOARD_HELMET: FastifyHelmetOptions = {
  contentSecurityPolicy: { directives: CSP_DIRECTIVES },
};
const DOCS_HELMET: FastifyHelmetOptions = {
  contentSecurityPolicy: {
    directives: { ...CSP_DIRECTIVES, styleSrc: ["'self'", "'unsafe-inline'"] },
  },
};

/**
 * What every other answer (JSON for API clients) carries: the part of helmet's set that means
 * something outside a rendered page, with helmet's values, as constants (nothing built per request).
 */
export const API_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'SAMEORIGIN',
  'cross-origin-resource-policy': 'same-origin',
};

function rendersInBrowser(request: FastifyRequest): boolean {
  return (request.routeOptions.config as { helmet?: unknown }).helmet !== undefined;
}

/**
 * Helmet's full set (CSP and the rest) on the browser routes only: @fastify/helmet builds its
 * middleware on every request it handles, which the API's hot path should not pay for. Routes are
 * marked when they are added, so this must run before any route is registered.
 */
export function registerSecurityHeaders(fastify: FastifyInstance): void {
  fastify.addHook('onRoute', (route) => {
    const page = BROWSER_PATHS.exec(route.url)?.[1];
    if (!page) return;
    // @fastify/helmet reads a route's own options from its config (`global: false` below).
    route.config = Object.assign({}, route.config, {
      helmet: page === 'docs' ? DOCS_HELMET : DASHBOARD_HELMET,
    });
  });
  void fastify.register(helmet, { global: false });
  fastify.addHook('onRequest', (request, reply, done) => {
    if (!rendersInBrowser(request)) void reply.headers(API_SECURITY_HEADERS);
    done();
  });
}
