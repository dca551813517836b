export { counter, gauge, histogram } from './metrics';
export { MetricsServer } from './metrics-server';
export { MetricsModule } from './metrics.module';
