import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import { commonError } from '../../src/shared/errors';
import type { Principal } from '../../src/shared/tenant-context';
import { type Credentials, RequestAuthenticator } from '../../src/shared/auth';

/**
 * For tests whose subject is context propagation, not authentication: the tenant comes from
 * `X-Tenant-ID` (a uuid), through the same guard and seam as the real session authenticator.
 */
@Injectable()
export class HeaderTenantAuthenticator extends RequestAuthenticator {
  authenticate(credentials: Credentials): Promise<Principal> {
    const parsed = z.uuid().safeParse(credentials.tenantId);
    if (!parsed.success) {
      return Promise.reject(
        commonError('COMMON.UNAUTHENTICATED', 'Send X-Tenant-ID with a tenant uuid'),
      );
    }
    return Promise.resolve({
      tenantId: parsed.data,
      isPlatformAdmin: false,
      via: 'header',
      role: 'user',
    });
  }
}
