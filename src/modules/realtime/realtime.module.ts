import { Module } from '@nestjs/common';
import { ContextController } from './context.controller';
import { RealtimeGateway } from './realtime.gateway';

@Module({
  controllers: [ContextController],
  providers: [RealtimeGateway],
  exports: [RealtimeGateway],
})
export class RealtimeModule {}
