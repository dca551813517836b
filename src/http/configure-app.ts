import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { WsAdapter } from '@nestjs/platform-ws';
import { SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import { appConfig, type AppConfig, eventsConfig, type EventsConfig } from '../config';
import { logRequests } from '../shared/logging';
import { configureInstantWindows } from '../shared/validation';
import { createAsyncApiDocument, routeClientFrame } from '../modules/realtime';
import { configureCors } from './cors';
import { enforceInputRules } from './json-input';
import { restrictToRole } from './process-role';
import { answerMethodNotAllowed } from './method-not-allowed';
import { openRequestContext } from './request-context';
import { createOpenApiDocument } from './openapi';
import { registerSecurityHeaders } from './security-headers';

export const API_PREFIX = 'api/v1';
/** Routes outside the API prefix: probes, metrics, admin, the dashboard. */
export const UNPREFIXED_ROUTES = [
  'health',
  'health/*path',
  'metrics',
  'admin/*path',
  'dashboard',
  'dashboard/*path',
];

/** Everything main.ts and the e2e app factory share, so tests run the production pipeline. */
export function configureApp(app: NestFastifyApplication): void {
  app.useLogger(app.get(Logger));
  app.flushLogs();
  app.setGlobalPrefix(API_PREFIX, { exclude: UNPREFIXED_ROUTES });
  // Nest routes a frame by `event`: it gets the kind the message schemas read (`type`, or its
  // deprecated alias `event`), and only for a valid frame (the gateway answers the others).
  app.useWebSocketAdapter(new WsAdapter(app, { messageParser: routeClientFrame }));

  const fastify = app.getHttpAdapter().getInstance();
  openRequestContext(fastify);
  registerSecurityHeaders(fastify);
  logRequests(fastify);
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id);
    done();
  });
  const config = app.get<AppConfig>(appConfig.KEY);
  restrictToRole(fastify, config);
  configureCors(app, config);
  answerMethodNotAllowed(fastify);
  enforceInputRules(app);
  configureInstantWindows({ event: app.get<EventsConfig>(eventsConfig.KEY).timestampWindow });

  SwaggerModule.setup('docs', app, createOpenApiDocument(app), { jsonDocumentUrl: 'docs-json' });
  // The WebSocket protocol, as /docs-json is the REST API's.
  const asyncApi = createAsyncApiDocument();
  fastify.get('/docs/asyncapi.json', (_request, reply) => reply.send(asyncApi));
}
