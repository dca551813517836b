import { defineErrorCodes } from '../../shared/errors';

export const authError = defineErrorCodes({
  'AUTH.INVALID_CREDENTIALS': 401,
  'AUTH.INVALID_TOKEN': 401,
  'AUTH.SESSION_ENDED': 401,
  'AUTH.INVALID_REFRESH_TOKEN': 401,
  'AUTH.USER_NOT_CONFIRMED': 403,
  'AUTH.PASSWORD_CHANGE_REQUIRED': 403,
  'AUTH.SIGNUP_CLOSED': 403,
  'AUTH.NOT_A_MEMBER': 403,
  'AUTH.FORBIDDEN': 403,
  'AUTH.TENANT_INACTIVE': 403,
  'AUTH.USER_NOT_FOUND': 404,
  'AUTH.SESSION_NOT_FOUND': 404,
  'AUTH.ACCOUNT_EXISTS': 409,
  'AUTH.ALREADY_MEMBER': 409,
  'AUTH.LAST_OWNER': 409,
  'AUTH.INVALID_PASSWORD': 400,
  'AUTH.RATE_LIMITED': 429,
  'AUTH.IDENTITY_PROVIDER_UNAVAILABLE': 503,
  'AUTH.SESSION_STORE_UNAVAILABLE': 503,
});

/** The one answer for any wrong credential: never says whether the account exists. */
export const invalidCredentials = () =>
  authError('AUTH.INVALID_CREDENTIALS', 'Invalid email or password');
export const invalidToken = () =>
  authError('AUTH.INVALID_TOKEN', 'Invalid or expired access token');
export const sessionStoreDown = () =>
  authError(
    'AUTH.SESSION_STORE_UNAVAILABLE',
    'Sessions cannot be checked right now; try again shortly',
  );
