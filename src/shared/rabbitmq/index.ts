export * from './amqp-consumer';
export * from './consumer-channel';
export * from './rabbitmq.module';
export * from './rabbitmq.service';
