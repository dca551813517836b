export * from './kafka-consumer';
export * from './kafka.module';
export * from './kafka.service';
