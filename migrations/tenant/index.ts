import { TenantAuditEvents1700000003101 } from './1700000003101-tenant-audit-events';
import { Location1700000008101 } from './1700000008101-location';
import { TenantEvents1700000010101 } from './1700000010101-events';
import { Messages1700000011101 } from './1700000011101-messages';
import { MessagingStatements1700000012101 } from './1700000012101-messaging-statements';
import { MessagingClaimLease1700000016301 } from './1700000016301-messaging-claim-lease';
import { MessageOutboxTraceparent1700000017101 } from './1700000017101-message-outbox-traceparent';

export { CURRENT_TENANT_SQL, enableTenantRls } from './tenant-rls';

/**
 * Tenant migrations, in order, applied to every tenant database (at provisioning, and once per
 * database at first connection). Listed explicitly: no globs. Each tenant table calls enableTenantRls().
 */
export const tenantMigrations = [
  TenantAuditEvents1700000003101,
  Location1700000008101,
  TenantEvents1700000010101,
  Messages1700000011101,
  MessagingStatements1700000012101,
  MessagingClaimLease1700000016301,
  MessageOutboxTraceparent1700000017101,
];
