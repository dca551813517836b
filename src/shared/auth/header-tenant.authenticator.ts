import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import { commonError } from '../errors/app-error';
import type { Principal } from '../tenant-context';
import { type Credentials, RequestAuthenticator } from './request-authenticator';

/**
 * The Foundation's stand-in: the tenant comes from `X-Tenant-ID` (a uuid). Replaced by the
 * auth module's Cognito session authenticator; nothing else depends on which one is bound.
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
