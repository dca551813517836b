import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { databaseConfig, type DatabaseConfig } from '../../config';
import { certificateStartupError, StartupError } from '../errors';
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
        // A certificate the CA cannot verify stays so: one clear line at once, not nine retries.
        toRetry: (error: unknown) => !(error instanceof StartupError),
      }),
      dataSourceFactory: async (options?: DataSourceOptions) => {
        const dataSource = new DataSource(options!);
        try {
          return await dataSource.initialize();
        } catch (error) {
          const url = new URL((options as { url: string }).url);
          throw certificateStartupError('PostgreSQL', url.host, 'DATABASE_SSL_CA', error) ?? error;
        }
      },
    }),
  ],
})
export class DatabaseModule {}
