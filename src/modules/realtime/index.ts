export { RealtimeGateway } from './realtime.gateway';
export { RealtimeModule } from './realtime.module';
