export { Clock, SystemClock } from './clock';
export * from './location.events';
export { LocationModule } from './location.module';
export { SessionExpiryJob } from './sessions/session-expiry.job';
export { RetryWorker } from './delivery/retry.worker';
export { DeliveryService } from './delivery/delivery.service';
