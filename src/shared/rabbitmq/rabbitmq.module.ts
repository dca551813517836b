import { Global, Module } from '@nestjs/common';
import { RabbitMqManagement } from './rabbitmq-management';
import { RabbitMqService } from './rabbitmq.service';

@Global()
@Module({
  providers: [RabbitMqService, RabbitMqManagement],
  exports: [RabbitMqService, RabbitMqManagement],
})
export class RabbitMqModule {}
