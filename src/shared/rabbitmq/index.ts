export { AmqpConsumer, type AmqpInbound, type AmqpOutcome } from './amqp-consumer';
export { type QueuePolicy, RabbitMqManagement } from './rabbitmq-management';
export { RabbitMqModule } from './rabbitmq.module';
export {
  PublishNackedError,
  PublishUnroutableError,
  rabbitConnectionName,
  RabbitMqService,
} from './rabbitmq.service';
