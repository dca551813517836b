export * from './database.module';
export * from './migrator';
export * from './pg-tls';
