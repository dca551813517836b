import type { FastifyInstance } from 'fastify';
import { runInTenantContext } from '../shared/tenant-context';

/**
 * Opens every HTTP request's tenant context (with the id Fastify chose) in the first onRequest
 * hook, so the rest of the request runs inside it. nestjs-cls's own middleware would do the same
 * through @fastify/middie, with a middleware chain and several awaits on every request.
 */
export function openRequestContext(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (request, _reply, done) => {
    void runInTenantContext({ transport: 'http', requestId: request.id }, () => {
      done();
      return Promise.resolve();
    });
  });
}
