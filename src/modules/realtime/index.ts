export { RealtimeGateway, SUBPROTOCOL } from './realtime.gateway';
export { createAsyncApiDocument } from './realtime.asyncapi';
export { routeClientFrame } from './realtime.messages';
export * as realtimeMetrics from './realtime.metrics';
export { RealtimeModule } from './realtime.module';
