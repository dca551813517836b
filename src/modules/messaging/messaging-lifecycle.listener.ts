import { Injectable, Logger } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import {
  TENANT_DELETING,
  TENANT_PROVISIONED,
  TenantDeletingEvent,
  TenantProvisionedEvent,
} from '../tenancy';
import { ConsumerRegistry } from './consumer-registry.service';
import { MessagesService } from './messages.service';
import { DEFAULT_QUEUE } from './queue-topology';

/** Tenant lifecycle: a provisioned tenant gets its partition, default queue and consumers; a deleted one loses them everywhere. */
@Injectable()
export class MessagingLifecycleListener {
  private readonly logger = new Logger(MessagingLifecycleListener.name);

  constructor(
    private readonly messages: MessagesService,
    private readonly registry: ConsumerRegistry,
  ) {}

  /** Awaited by provisioning (which retries on failure): every step is idempotent. */
  @OnEvent(TENANT_PROVISIONED, { promisify: true, suppressErrors: false })
  async onProvisioned(event: TenantProvisionedEvent): Promise<void> {
    const created = await this.messages.ensurePartition(event.tenantId);
    await this.registry.ensureQueue(event.tenantId, DEFAULT_QUEUE);
    this.logger.log(
      `Tenant ${event.tenantId}: messages partition ${created ? 'created' : 'present'}, queue ${DEFAULT_QUEUE} ready`,
    );
  }

  /** Awaited before the tenant is marked deleted: drained on every instance, then its queues deleted. */
  @OnEvent(TENANT_DELETING, { promisify: true, suppressErrors: false })
  async onDeleting(event: TenantDeletingEvent): Promise<void> {
    await this.registry.deleteTenant(event.tenantId);
    this.logger.log(`Tenant ${event.tenantId}: queues drained everywhere and deleted`);
  }
}
