import { defineErrorCodes } from '../../shared/errors';

/** Every code the messaging module answers with, and its HTTP status. */
export const messagingError = defineErrorCodes({
  'MESSAGING.INVALID_QUEUE_NAME': 400,
  'MESSAGING.INVALID_IDEMPOTENCY_KEY': 400,
  'MESSAGING.MESSAGE_NOT_FOUND': 404,
  'MESSAGING.QUEUE_NOT_FOUND': 404,
  'MESSAGING.TENANT_NOT_FOUND': 404,
  'MESSAGING.OTHER_TENANT': 403,
  'MESSAGING.NOT_RETRYABLE': 409,
  'MESSAGING.PAYLOAD_TOO_LARGE': 413,
  'MESSAGING.QUEUE_FULL': 429,
  'MESSAGING.BROKER_UNAVAILABLE': 503,
});
