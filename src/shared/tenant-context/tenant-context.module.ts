import { Global, Module } from '@nestjs/common';
import { ClsModule } from 'nestjs-cls';
import { TenantContext } from './tenant-context';
import { TenantContextInterceptor } from './tenant-context.interceptor';

@Global()
@Module({
  imports: [
    ClsModule.forRoot({
      global: true,
      // HTTP requests open their context in a Fastify onRequest hook (src/http/request-context.ts)
      // with Fastify's request id, not through this middleware and @fastify/middie.
      middleware: { mount: false },
    }),
  ],
  providers: [TenantContext, TenantContextInterceptor],
  exports: [TenantContext, TenantContextInterceptor],
})
export class TenantContextModule {}
