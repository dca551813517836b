export { BatcherFullError, exponentialDelay, NaturalBatcher } from './natural-batcher';
