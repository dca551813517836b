import { type ArgumentsHost, Catch, type ExceptionFilter, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ClsServiceManager } from 'nestjs-cls';
import type { WebSocket } from 'ws';
import { AppError } from './app-error';
import { databaseDataError, toErrorBody } from './error-body';

/** Retry-After of a 429 or 503 whose code gives none (a dependency down, the IdP throttling). */
export const DEFAULT_RETRY_AFTER_SECONDS = 1;

/** The one filter: every error leaves in the same envelope, with the request id. */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('ErrorFilter');

  catch(exception: unknown, host: ArgumentsHost): void {
    const { body, known } = toErrorBody(exception);
    const cls = ClsServiceManager.getClsService();
    if (!known) this.logger.error({ err: exception }, 'Unhandled error');
    const sqlState = databaseDataError(exception);
    // Answered 400, but input reached SQL unchecked: worth a line to find the missing validation.
    if (sqlState) this.logger.warn({ sqlState }, 'Database refused input; answered 400');

    if (host.getType() === 'ws') {
      if (cls.isActive()) body.request_id = cls.getId();
      host
        .switchToWs()
        .getClient<WebSocket>()
        .send(JSON.stringify({ type: 'error', data: body }));
      return;
    }
    if (host.getType() !== 'http') throw exception;
    const http = host.switchToHttp();
    const reply = http.getResponse<FastifyReply>();
    // Unmatched routes never reach the context middleware: fall back to Fastify's request id.
    body.request_id = cls.isActive() ? cls.getId() : http.getRequest<FastifyRequest>().id;
    if (exception instanceof AppError) void reply.headers(exception.headers);
    // Every 429 and 503 says when to come back (the OpenAPI document declares it on each): the
    // code's own figure where it has one, else a short default.
    if ((body.statusCode === 429 || body.statusCode === 503) && !reply.hasHeader('retry-after'))
      void reply.header('Retry-After', String(DEFAULT_RETRY_AFTER_SECONDS));
    void reply.status(body.statusCode).send(body);
  }
}
