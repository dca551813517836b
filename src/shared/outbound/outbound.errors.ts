import { defineErrorCodes } from '../errors';

export const outboundError = defineErrorCodes({
  'OUTBOUND.URL_NOT_ALLOWED': 400,
});
