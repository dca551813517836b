import { Injectable } from '@nestjs/common';
import { commonError } from '../../shared/errors';
import { TenantContext } from '../../shared/tenant-context';
import { otherTenant, tenantNotFound, TenantsService } from '../tenancy';

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
        throw otherTenant('You may only work on your own tenant');
      }
    }
    if (!tenantId) {
      // A platform admin who named no tenant: the request is incomplete (400), not a lookup miss.
      throw commonError('COMMON.TENANT_REQUIRED', 'Name the tenant: X-Tenant-ID or tenant_id');
    }
    if (!(await this.tenants.isActive(tenantId))) {
      throw tenantNotFound(tenantId);
    }
    return tenantId;
  }

  /**
   * The tenant a publish stores its message in. Each name in the request (path, `tenant_id`,
   * and the request's own tenant: X-Tenant-ID or the tenant chosen at sign-in) must be that
   * tenant: checked before anything is stored, since the broker refuses a publish whose tenant
   * is not the request's, and a stored message is published (by the relay) whatever the answer.
   */
  async publishTenantFor(...named: Array<string | undefined>): Promise<string> {
    const names = [...new Set(named.filter((id): id is string => id !== undefined))];
    if (names.length > 1) {
      throw otherTenant(`The request names two tenants (${names.join(', ')}); name one`);
    }
    const tenantId = await this.tenantFor(names[0]);
    const own = this.context.principal.tenantId;
    if (own && own !== tenantId) {
      throw otherTenant(
        `This request works on tenant ${own} (X-Tenant-ID or the tenant chosen at sign-in), not ${tenantId}; send X-Tenant-ID: ${tenantId} to publish there`,
      );
    }
    return tenantId;
  }

  /** Who may make a tenant queue (a broker queue, a consumer, metric series): owners and admins. */
  get mayCreateQueues(): boolean {
    const principal = this.context.principal;
    return (
      principal.isPlatformAdmin ||
      (principal.role === 'tenant_owner' && principal.via !== 'api_key')
    );
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
