import { Module } from '@nestjs/common';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { AppConfigModule } from '../config';
import { TenancyModule } from '../modules/tenancy';
import { AwsModule } from '../shared/aws';
import { DatabaseModule } from '../shared/database';
import { TenantContextModule } from '../shared/tenant-context';

/**
 * Tenancy without the server: what reaching tenant databases needs (config, platform database,
 * AWS, the context), no HTTP, brokers or Redis. For commands and benchmarks.
 */
@Module({
  imports: [
    AppConfigModule,
    EventEmitterModule.forRoot(),
    TenantContextModule,
    DatabaseModule,
    AwsModule,
    TenancyModule,
  ],
})
export class TenancyStandaloneModule {}
