export * from './amqp-consumer';
export * from './rabbitmq.module';
export * from './rabbitmq.service';
