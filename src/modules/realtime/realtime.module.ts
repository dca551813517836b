import { Module } from '@nestjs/common';
import { EventsModule } from '../events';
import { TenancyModule } from '../tenancy';
import { RealtimeGateway } from './realtime.gateway';
import { SocketRevocations } from './socket-revocations';

@Module({
  imports: [EventsModule, TenancyModule.forFeature([])],
  providers: [RealtimeGateway, SocketRevocations],
  exports: [RealtimeGateway],
})
export class RealtimeModule {}
