import { defineErrorCodes } from '../../shared/errors';

/** Every code the dashboard's static routes answer with, and its HTTP status. */
export const dashboardError = defineErrorCodes({
  'DASHBOARD.ASSET_NOT_FOUND': 404,
  'DASHBOARD.NOT_BUILT': 503,
});
