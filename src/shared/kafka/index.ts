export * from './kafka-consumer';
export { PARKED_FROM_HEADER, PARKED_REASON_HEADER } from './kafka-parking';
export * from './kafka.module';
export * from './kafka.service';
