import { Module, RequestMethod } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { ClsServiceManager } from 'nestjs-cls';
import { LoggerModule, type Params } from 'nestjs-pino';
import { appConfig, type AppConfig } from '../../config';
import type { TenantContextStore } from '../tenant-context';
import { serializeError } from './redact-error';

const QUIET_PATHS = /^\/(health|metrics)(\/|$|\?)/;

/** Fields redacted from every log line. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.temporary_password',
  '*.secret',
  '*.SecretString',
  '*.access_token',
  '*.refresh_token',
  '*.id_token',
  '*.api_key',
];

/** Request id and tenant id on every line, whatever the transport: read from the context. */
export function contextFields(): Record<string, string> {
  const cls = ClsServiceManager.getClsService();
  if (!cls.isActive()) return {};
  const fields: Record<string, string> = {};
  const requestId = cls.getId();
  if (requestId) fields.request_id = requestId;
  const tenantId = cls.get<TenantContextStore['principal']>('principal')?.tenantId;
  if (tenantId) fields.tenant_id = tenantId;
  return fields;
}

/** nestjs-pino's options: one place for the level, redaction and serializers (tested). */
export function loggerParams(config: AppConfig): Params {
  return {
    // path-to-regexp 8 syntax (the default '*' draws a deprecation warning on every start)
    forRoutes: [{ path: '{*path}', method: RequestMethod.ALL }],
    pinoHttp: {
      level: config.logLevel,
      // Fastify chose the id (echoed X-Request-ID or a new uuid); middie copies it to req.id.
      genReqId: (req: IncomingMessage) => (req as IncomingMessage & { id: string }).id,
      customAttributeKeys: { reqId: 'request_id' },
      mixin: contextFields,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      autoLogging: { ignore: (req: IncomingMessage) => QUIET_PATHS.test(req.url ?? '') },
      serializers: {
        // Failed SQL is logged without its parameters and row values (tenant data).
        err: serializeError,
        req: (req: {
          id: string;
          method: string;
          url: string;
          headers: Record<string, string>;
        }) => ({
          method: req.method,
          url: req.url,
          headers: req.headers,
        }),
      },
      transport:
        config.env === 'development'
          ? {
              target: 'pino-pretty',
              options: { singleLine: true, translateTime: 'SYS:HH:MM:ss.l' },
            }
          : undefined,
    },
  };
}

@Module({
  imports: [LoggerModule.forRootAsync({ inject: [appConfig.KEY], useFactory: loggerParams })],
})
export class LoggingModule {}
