export { createTesseraClient, type TesseraClient, type TesseraClientOptions } from './client.js';
export {
  bearerAuth,
  type ApiKeyAuth,
  type BearerAuth,
  type TesseraAuth,
  type Tokens,
} from './auth.js';
export { TesseraError, isErrorBody, unwrap, type TesseraErrorBody } from './errors.js';
export { IDEMPOTENT_POSTS } from './idempotency.js';
export { retryAfterMs, type RetryOptions } from './retry.js';
export type { components, operations, paths } from './schema.js';
export { FEED_SUBPROTOCOL, FeedClient } from './feed.js';
export type {
  FeedCloseReason,
  FeedCredential,
  FeedDisconnect,
  FeedEvent,
  FeedEvents,
  FeedGap,
  FeedHello,
  FeedOpen,
  FeedOptions,
  FeedSocket,
  FeedSocketConstructor,
  FeedStats,
  FeedSubscribed,
} from './feed.js';
