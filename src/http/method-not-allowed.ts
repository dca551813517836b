import type { FastifyInstance } from 'fastify';
import { AppError } from '../shared/errors';

/**
 * A path that exists, asked with a method it does not serve, answers 405 with `Allow` (RFC 9110)
 * instead of a 404 that says the path is unknown — or instead of a route of that method whose
 * path parameter swallowed a static segment of another method's route (`GET /session/start` is
 * not `GET /session/:id` with id=start when `POST /session/start` exists). The router is asked,
 * for each method some route uses, whether it would serve this path; the most specific answers
 * (fewest path parameters) win. HEAD (added by Fastify for every GET) is left out of `Allow`, as
 * the OpenAPI document lists only what the controllers declare.
 */
export function answerMethodNotAllowed(fastify: FastifyInstance): void {
  const methods = new Set<string>();
  fastify.addHook('onRoute', (route) => {
    for (const method of ([] as string[]).concat(route.method)) {
      if (method !== 'HEAD') methods.add(method);
    }
  });

  fastify.addHook('onRequest', (request, _reply, done) => {
    const own = request.is404 ? Infinity : Object.keys(request.params ?? {}).length;
    if (own === 0) return done(); // a static route: nothing is more specific
    const url = request.url.split('?')[0];
    let fewest = Infinity;
    let allowed: string[] = [];
    for (const method of methods) {
      const route = fastify.findRoute({ method, url });
      if (!route) continue;
      const params = Object.keys(route.params).length;
      if (params < fewest) [fewest, allowed] = [params, []];
      if (params === fewest) allowed.push(method);
    }
    if (allowed.length === 0 || own <= fewest || allowed.includes(request.method)) return done();
    const allow = allowed.sort().join(', ');
    done(
      new AppError(
        'COMMON.METHOD_NOT_ALLOWED',
        405,
        `${request.method} is not allowed here (allowed: ${allow})`,
      ).withHeaders({ allow }),
    );
  });
}
