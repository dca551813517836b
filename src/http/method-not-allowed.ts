import type { FastifyInstance } from 'fastify';
import { AppError } from '../shared/errors';

/**
 * A path that exists, asked with a method it does not serve, answers 405 with `Allow` (RFC 9110)
 * instead of a 404 that says the path is unknown. Only requests no route matched are checked:
 * the router is asked, for each method some route uses, whether it would serve this path, and
 * the most specific answers win (fewest path parameters). HEAD (added by Fastify for every GET) is
 * left out of `Allow`, as the OpenAPI document lists only what the controllers declare.
 */
export function answerMethodNotAllowed(fastify: FastifyInstance): void {
  const methods = new Set<string>();
  fastify.addHook('onRoute', (route) => {
    for (const method of ([] as string[]).concat(route.method)) {
      if (method !== 'HEAD') methods.add(method);
    }
  });

  fastify.addHook('onRequest', (request, _reply, done) => {
    if (!request.is404) return done();
    const url = request.url.split('?')[0];
    // The most specific routes serving this path: `/session/start` is POST's static route, not
    // GET's `/session/:id` with id=start (the document lists the path under POST only).
    let fewest = Infinity;
    let allowed: string[] = [];
    for (const method of methods) {
      const route = fastify.findRoute({ method, url });
      if (!route) continue;
      const params = Object.keys(route.params).length;
      if (params < fewest) [fewest, allowed] = [params, []];
      if (params === fewest) allowed.push(method);
    }
    allowed.sort();
    if (allowed.length === 0 || allowed.includes(request.method)) return done();
    const allow = allowed.join(', ');
    done(
      new AppError(
        'COMMON.METHOD_NOT_ALLOWED',
        405,
        `${request.method} is not allowed here (allowed: ${allow})`,
      ).withHeaders({ allow }),
    );
  });
}
