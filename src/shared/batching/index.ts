export { BatcherFullError, BatchSlots, exponentialDelay, NaturalBatcher } from './natural-batcher';
