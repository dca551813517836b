import { defineErrorCodes } from '../../shared/errors';

/** Every code the events module answers with, and its HTTP status. */
export const eventsError = defineErrorCodes({
  'EVENTS.METADATA_TOO_DEEP': 400,
  'EVENTS.METADATA_TOO_LARGE': 413,
  'EVENTS.RATE_LIMITED': 429,
  'EVENTS.RATE_LIMITER_UNAVAILABLE': 503,
});
