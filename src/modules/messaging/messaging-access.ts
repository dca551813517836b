import { Injectable } from '@nestjs/common';
import { commonError } from '../../shared/errors';
import { TenantContext } from '../../shared/tenant-context';
import { TenantsService } from '../tenancy';
import { messagingError } from './messaging.errors';

/**
 * Which tenant a messaging call works on: the caller's own (a path or body id naming another
 * is 403 and reveals nothing); a platform admin names it (X-Tenant-ID, path or `tenant_id`).
 * Unknown or deleted tenants are 404.
 */
@Injectable()
export class MessagingAccess {
  constructor(
    private readonly context: TenantContext,
    private readonly tenants: TenantsService,
  ) {}

  async tenantFor(named?: string): Promise<string> {
    const principal = this.context.principal;
    let tenantId: string | undefined;
    if (principal.isPlatformAdmin) tenantId = named ?? principal.tenantId;
    else {
      tenantId = principal.tenantId;
      if (named !== undefined && named !== tenantId) {
        throw messagingError('MESSAGING.OTHER_TENANT', 'You may only work on your own tenant');
      }
    }
    if (!tenantId) {
      // A platform admin who named no tenant: the request is incomplete (400), not a lookup miss.
      throw commonError('COMMON.TENANT_REQUIRED', 'Name the tenant: X-Tenant-ID or tenant_id');
    }
    if (!(await this.tenants.isActive(tenantId))) {
      throw messagingError('MESSAGING.TENANT_NOT_FOUND', `Tenant ${tenantId} not found`);
    }
    return tenantId;
  }

  get isPlatformAdmin(): boolean {
    return this.context.principal.isPlatformAdmin;
  }

  /** Tenants whose status the caller may see: all (null) for a platform admin. */
  visibleTenant(): string | null {
    const principal = this.context.principal;
    return principal.isPlatformAdmin ? null : (principal.tenantId ?? null);
  }
}
