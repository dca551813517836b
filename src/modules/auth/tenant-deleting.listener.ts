import { Injectable, Logger } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import { TENANT_DELETING, TenantDeletingEvent } from '../tenancy';
import { SessionStore } from './session.store';

/** A tenant being deleted: every session opened in it ends at once. */
@Injectable()
export class TenantDeletingListener {
  private readonly logger = new Logger(TenantDeletingListener.name);

  constructor(private readonly sessions: SessionStore) {}

  @OnEvent(TENANT_DELETING, { promisify: true, suppressErrors: false })
  async onDeleting(event: TenantDeletingEvent): Promise<void> {
    const ended = await this.sessions.endAllForTenant(event.tenantId, 'tenant_deleted');
    this.logger.log({ tenant_id: event.tenantId, ended }, 'Sessions of a deleted tenant ended');
  }
}
