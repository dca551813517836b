import { registerAs } from '@nestjs/config';
import { z } from 'zod';
import { parseEnv } from './config.errors';
import { booleanFlag, positiveInt } from './env-schemas';

const schema = z.object({
  EVENTS_RATE_LIMIT_POINTS: positiveInt(6_000),
  EVENTS_RATE_LIMIT_WINDOW_SECONDS: positiveInt(60),
  EVENTS_RATE_LIMIT_OVERRIDE_CACHE_MS: positiveInt(5_000),
  EVENTS_REPLAY_MAX: positiveInt(1_000),
  EVENTS_REORDER_WAIT_MS: positiveInt(100),
  EVENTS_STORE_LOCATION_DELIVERED: booleanFlag(false),
  EVENTS_STORE_MESSAGE_PROCESSED: booleanFlag(false),
  EVENTS_TIMESTAMP_MAX_PAST_DAYS: positiveInt(3_650),
  EVENTS_TIMESTAMP_MAX_FUTURE_SECONDS: positiveInt(300),
  EVENTS_INGEST_BATCH_MAX_EVENTS: positiveInt(1_000),
});

export const eventsConfig = registerAs('events', () => {
  const env = parseEnv('events', schema);
  return {
    rateLimit: {
      /** Events a tenant may ingest per window (a platform admin can override per tenant). */
      points: env.EVENTS_RATE_LIMIT_POINTS,
      windowSeconds: env.EVENTS_RATE_LIMIT_WINDOW_SECONDS,
      /** How long an instance keeps a tenant's override before reading it again. */
      overrideCacheMs: env.EVENTS_RATE_LIMIT_OVERRIDE_CACHE_MS,
    },
    /** The tenant feeds (the WebSocket gateway's settings are the realtime namespace's). */
    feed: {
      /** `subscribe` replays at most this many events; further behind answers `gap`. */
      replayMax: env.EVENTS_REPLAY_MAX,
      /** An event that arrives ahead of its predecessor waits this long before the hole is read from the database. */
      reorderWaitMs: env.EVENTS_REORDER_WAIT_MS,
    },
    /** Store `location.delivered` facts (high volume) besides pushing them live. */
    storeLocationDelivered: env.EVENTS_STORE_LOCATION_DELIVERED,
    /** How far from now an event's own `timestamp` may be (older or further ahead is a 400). */
    timestampWindow: {
      maxPastMs: env.EVENTS_TIMESTAMP_MAX_PAST_DAYS * 86_400_000,
      maxFutureMs: env.EVENTS_TIMESTAMP_MAX_FUTURE_SECONDS * 1_000,
    },
    /**
     * Concurrent ingestions of one tenant share a transaction holding at most this many events
     * (a request is never split; 1 gives every request its own transaction).
     */
    ingest: { batchMaxEvents: env.EVENTS_INGEST_BATCH_MAX_EVENTS },
    /** Store `message.processed` facts (one per message; the message row already records it). */
    storeMessageProcessed: env.EVENTS_STORE_MESSAGE_PROCESSED,
  };
});
export type EventsConfig = ReturnType<typeof eventsConfig>;
