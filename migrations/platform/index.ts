import { PlatformRegistry1700000000001 } from './1700000000001-platform-registry';
import { TenantProvisioning1700000003001 } from './1700000003001-tenant-provisioning';
import { LocationLedger1700000008001 } from './1700000008001-location-ledger';
import { LocationLedgerTopic1700000008002 } from './1700000008002-location-ledger-topic';
import { EventRateLimits1700000010001 } from './1700000010001-event-rate-limits';
import { MessagingQueues1700000011001 } from './1700000011001-messaging-queues';
import { MessagingWebhookSecret1700000012001 } from './1700000012001-messaging-webhook-secret';
import { LocationLedgerTraceparent1700000017001 } from './1700000017001-location-ledger-traceparent';
import { LocationDeliveryBatch1700000018001 } from './1700000018001-location-delivery-batch';

/** Platform migrations, in order. Listed explicitly: no globs. */
export const platformMigrations = [
  PlatformRegistry1700000000001,
  TenantProvisioning1700000003001,
  LocationLedger1700000008001,
  LocationLedgerTopic1700000008002,
  EventRateLimits1700000010001,
  MessagingQueues1700000011001,
  MessagingWebhookSecret1700000012001,
  LocationLedgerTraceparent1700000017001,
  LocationDeliveryBatch1700000018001,
];
