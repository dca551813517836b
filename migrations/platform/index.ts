import { PlatformRegistry1700000000001 } from './1700000000001-platform-registry';
import { TenantProvisioning1700000003001 } from './1700000003001-tenant-provisioning';
import { EventRateLimits1700000010001 } from './1700000010001-event-rate-limits';

/** Platform migrations, in order. Listed explicitly: no globs. */
export const platformMigrations = [
  PlatformRegistry1700000000001,
  TenantProvisioning1700000003001,
  EventRateLimits1700000010001,
];
