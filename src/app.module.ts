import { Global, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { ZodValidationPipe } from 'nestjs-zod';
import { AppConfigModule } from './config';
import { HealthModule } from './health/health.module';
import { ContextController } from './http/context.controller';
import { AuthModule } from './modules/auth';
import { LocationModule } from './modules/location';
import { MessagingModule } from './modules/messaging';
import { EventsModule } from './modules/events';
import { DashboardModule } from './modules/dashboard';
import { RealtimeModule } from './modules/realtime';
import { TenancyModule } from './modules/tenancy';
import { AuthGuard } from './shared/auth';
import { AwsModule } from './shared/aws';
import { DatabaseModule } from './shared/database';
import { ErrorFilter } from './shared/errors';
import { KafkaModule } from './shared/kafka';
import { LifecycleService } from './shared/lifecycle';
import { LoggingModule } from './shared/logging';
import { MetricsModule } from './shared/metrics';
import { OutboundModule } from './shared/outbound';
import { RabbitMqModule } from './shared/rabbitmq';
import { RedisModule } from './shared/redis';
import { TenantContextModule } from './shared/tenant-context';

@Global()
@Module({
  providers: [LifecycleService],
  exports: [LifecycleService],
})
class CoreModule {}

@Module({
  imports: [
    AppConfigModule,
    EventEmitterModule.forRoot(),
    TenantContextModule,
    LoggingModule,
    CoreModule,
    DatabaseModule,
    RedisModule,
    KafkaModule,
    OutboundModule,
    RabbitMqModule,
    AwsModule,
    MetricsModule,
    HealthModule,
    RealtimeModule,
    TenancyModule,
    AuthModule,
    LocationModule,
    MessagingModule,
    DashboardModule,
    EventsModule,
  ],
  // Routes of no module: the tenant context a request carries.
  controllers: [ContextController],
  providers: [
    { provide: APP_PIPE, useClass: ZodValidationPipe },
    { provide: APP_FILTER, useClass: ErrorFilter },
    { provide: APP_GUARD, useClass: AuthGuard },
  ],
})
export class AppModule {}
