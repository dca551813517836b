export { RealtimeGateway, SUBPROTOCOL } from './realtime.gateway';
export * as realtimeMetrics from './realtime.metrics';
export { RealtimeModule } from './realtime.module';
