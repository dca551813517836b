import { Global, Injectable, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { RequestAuthenticator, RevocationChannel } from '../../shared/auth';
import { ApiKeysService, TenancyModule, TenantsService } from '../tenancy';
import { AccessTokenVerifier } from './access-token.verifier';
import { AuthController } from './auth.controller';
import { AuthRateLimiter } from './auth-rate-limiter';
import { AuthService } from './auth.service';
import { CognitoClient } from './cognito.client';
import { MembershipsService } from './memberships.service';
import { PlatformAdminEntity } from './platform-admin.entity';
import { SessionAuthenticator } from './session.authenticator';
import { SessionStore } from './session.store';
import { TenantDeletingListener } from './tenant-deleting.listener';
import { TenantUserEntity } from './tenant-user.entity';
import { CurrentTenantUsersController, TenantUsersController } from './tenant-users.controller';
import { TenantUsersService } from './tenant-users.service';
import { ApiKeyResolver, TenantDirectory, type TenantFacts } from './tenant-directory';

/** Binds the ports to the tenancy module's services. */
@Injectable()
class TenancyDirectory extends TenantDirectory {
  constructor(private readonly tenants: TenantsService) {
    super();
  }

  async find(tenantId: string): Promise<TenantFacts | null> {
    const tenant = await this.tenants.findById(tenantId);
    if (!tenant || tenant.status === 'deleted') return null;
    return {
      id: tenant.id,
      active: tenant.status === 'active',
      allowSelfSignup: tenant.allow_self_signup,
    };
  }
}

@Injectable()
class TenancyApiKeys extends ApiKeyResolver {
  constructor(private readonly keys: ApiKeysService) {
    super();
  }

  resolve(rawKey: string) {
    return this.keys.resolve(rawKey);
  }
}

/**
 * Global: its RequestAuthenticator is what the global guard and the WebSocket gateway call; its
 * RevocationChannel is the one every module publishes credential revocations on.
 */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature([TenantUserEntity, PlatformAdminEntity]), TenancyModule],
  controllers: [AuthController, TenantUsersController, CurrentTenantUsersController],
  providers: [
    AccessTokenVerifier,
    AuthRateLimiter,
    AuthService,
    CognitoClient,
    MembershipsService,
    SessionStore,
    SessionAuthenticator,
    RevocationChannel,
    TenantUsersService,
    TenantDeletingListener,
    { provide: TenantDirectory, useClass: TenancyDirectory },
    { provide: ApiKeyResolver, useClass: TenancyApiKeys },
    { provide: RequestAuthenticator, useExisting: SessionAuthenticator },
  ],
  exports: [
    RequestAuthenticator,
    RevocationChannel,
    SessionStore,
    MembershipsService,
    CognitoClient,
    AccessTokenVerifier,
  ],
})
export class AuthModule {}
