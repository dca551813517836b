import type { FastifyInstance } from 'fastify';
import type { AppConfig } from '../config';
import { AppError } from '../shared/errors';

/** What a `worker` process answers: probes and metrics, nothing a client could call. */
const WORKER_PATHS = /^\/(health(\/[^?]*)?|metrics)(\?.*)?$/;

/**
 * A `worker` process (TESSERA_ROLE=worker) builds the same application as the others, so its
 * consumers and workers get exactly the services the API uses, but answers every request other
 * than `/health/*` and `/metrics` with 404 before routing, parsing or authentication: the public
 * API, the docs and the dashboard live on `api` processes only. WebSocket upgrades are refused
 * by the gateway on the same rule.
 */
export function restrictToRole(fastify: FastifyInstance, config: AppConfig): void {
  if (config.servesApi) return;
  fastify.addHook('onRequest', (request, _reply, done) => {
    if (WORKER_PATHS.test(request.url)) return done();
    done(new AppError('COMMON.NOT_FOUND', 404, 'Not served by a worker process'));
  });
}
