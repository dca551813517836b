import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { databaseConfig, type DatabaseConfig } from '../../config';
import { pgSslOptions } from './pg-tls';

/** The platform database (tenants, users, keys, ledgers), as the runtime role. */
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [databaseConfig.KEY],
      useFactory: (config: DatabaseConfig) => ({
        type: 'postgres' as const,
        url: config.url,
        ssl: pgSslOptions(config.tls),
        autoLoadEntities: true,
        synchronize: false,
        migrationsRun: false,
        applicationName: 'tessera',
        extra: {
          max: config.poolMax,
          statement_timeout: config.statementTimeoutMs,
          connectionTimeoutMillis: 3_000,
        },
      }),
    }),
  ],
})
export class DatabaseModule {}
