export { Clock, SystemClock } from './clock';
export * from './location.events';
export { LocationModule } from './location.module';
export { SessionExpiryJob } from './session-expiry.job';
export { RetryWorker } from './retry.worker';
export { DeliveryService } from './delivery.service';
