import { Module } from '@nestjs/common';
import { ClsServiceManager } from 'nestjs-cls';
import { LoggerModule, type Params } from 'nestjs-pino';
import { appConfig, type AppConfig } from '../../config';
import type { TenantContextStore } from '../tenant-context';
import { serializeError } from './redact-error';

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
    // No per-request middleware: pino-http would build a child logger with the request serialized
    // and redacted on every request, written or not. logRequests() writes the same line, and the
    // request and tenant ids of every line come from the context (mixin).
    forRoutes: [],
    pinoHttp: {
      level: config.logLevel,
      mixin: contextFields,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
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
