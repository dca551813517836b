import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { WsAdapter } from '@nestjs/platform-ws';
import { SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import { answerMethodNotAllowed } from './method-not-allowed';
import { createOpenApiDocument } from './openapi';

export const API_PREFIX = 'api/v1';

/** Everything main.ts and the e2e app factory share, so tests run the production pipeline. */
export function configureApp(app: NestFastifyApplication): void {
  app.useLogger(app.get(Logger));
  app.flushLogs();
  app.setGlobalPrefix(API_PREFIX, {
    exclude: ['health', 'health/*path', 'metrics', 'admin/*path'],
  });
  app.useWebSocketAdapter(new WsAdapter(app));

  const fastify = app.getHttpAdapter().getInstance();
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id);
    done();
  });
  answerMethodNotAllowed(fastify);

  SwaggerModule.setup('docs', app, createOpenApiDocument(app), { jsonDocumentUrl: 'docs-json' });
}
