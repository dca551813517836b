import { Global, Module } from '@nestjs/common';
import { ClsModule } from 'nestjs-cls';
import type { IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import { TenantContext } from './tenant-context';
import { TenantContextInterceptor } from './tenant-context.interceptor';

@Global()
@Module({
  imports: [
    ClsModule.forRoot({
      global: true,
      middleware: {
        mount: true,
        // Fastify's genReqId already chose the id (echoed X-Request-ID or a new uuid); middie copies it to req.id.
        generateId: true,
        idGenerator: (req: IncomingMessage & { id?: string }) => req.id ?? randomUUID(),
        setup: (cls) => cls.set('transport', 'http'),
        // No proxy providers exist (no ClsModule.forFeature, no @InjectableProxy): resolving them
        // would cost a lookup on every request for nothing.
        resolveProxyProviders: false,
      },
    }),
  ],
  providers: [TenantContext, TenantContextInterceptor],
  exports: [TenantContext, TenantContextInterceptor],
})
export class TenantContextModule {}
