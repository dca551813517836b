import type { FastifyInstance } from 'fastify';
import { PinoLogger } from 'nestjs-pino';
import type { Logger } from 'pino';

const QUIET_PATHS = /^\/(health|metrics)(\/|$|\?)/;

/**
 * One line per answered request, as pino-http wrote it (`request completed`, or `request errored`
 * for a 5xx, at info, with req, res and responseTime; request and tenant ids from the context),
 * without pino-http's per-request work: no child logger with the request serialized and
 * redacted up front, no middleware. Nothing is built unless the line is written, so at
 * LOG_LEVEL=warn a request costs a level check. Health probes and metrics scrapes are skipped.
 */
export function logRequests(
  fastify: FastifyInstance,
  logger: () => Logger | undefined = () => PinoLogger.root,
): void {
  fastify.addHook('onResponse', (request, reply, done) => {
    const log = logger();
    if (log?.isLevelEnabled('info') && !QUIET_PATHS.test(request.url)) {
      const fields = {
        request_id: request.id,
        req: request.raw,
        res: reply.raw,
        responseTime: Math.round(reply.elapsedTime),
      };
      if (reply.statusCode >= 500)
        log.info(
          { ...fields, err: new Error(`failed with status code ${reply.statusCode}`) },
          'request errored',
        );
      else log.info(fields, 'request completed');
    }
    done();
  });
}
