export * from './socket-principal';
export * from './tenant-context';
export * from './tenant-context.interceptor';
export * from './tenant-context.module';
export * from './tenant-context.types';
