export * from './amqp-consumer';
export * from './consumer-channel';
export * from './rabbitmq-management';
export * from './rabbitmq.module';
export * from './rabbitmq.service';
