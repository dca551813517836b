import { defineErrorCodes } from '../../shared/errors';

/** Every code the location module answers with, and its HTTP status. */
export const locationError = defineErrorCodes({
  'LOCATION.INVALID_UPDATE': 400,
  'LOCATION.SIGNING_NEEDS_ENDPOINT': 400,
  'LOCATION.USER_REQUIRED': 403,
  'LOCATION.SESSION_NOT_FOUND': 404,
  'LOCATION.LEDGER_ROW_NOT_FOUND': 404,
  'LOCATION.SESSION_ALREADY_ACTIVE': 409,
  'LOCATION.SESSION_NOT_ACTIVE': 409,
  'LOCATION.LEDGER_ROW_RESOLVED': 409,
  'LOCATION.BROKER_UNAVAILABLE': 503,
});
