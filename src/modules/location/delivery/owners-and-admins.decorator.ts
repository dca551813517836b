import { Allow } from '../../../shared/auth';

/** The delivery, retry-ledger and streaming-health routes: tenant owners and platform admins. */
export const OwnersAndAdmins = () => Allow({ platformAdmin: true, roles: ['tenant_owner'] });
