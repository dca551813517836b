export { RealtimeGateway, SUBPROTOCOL } from './realtime.gateway';
export { RealtimeModule } from './realtime.module';
