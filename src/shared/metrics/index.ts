export * from './metrics';
export * from './metrics.module';
export * from './metrics-access';
export * from './metrics-server';
