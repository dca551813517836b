import { Inject, Injectable, Logger } from '@nestjs/common';
import { authConfig, type AuthConfig } from '../../config';
import { type Credentials, RequestAuthenticator } from '../../shared/auth';
import { AppError } from '../../shared/errors';
import type { Principal } from '../../shared/tenant-context';
import { invalidTenantId, otherTenant, tenantNotFound } from '../tenancy';
import { AccessTokenVerifier, JwksUnavailableError } from './access-token.verifier';
import { authError, invalidToken } from './auth.errors';
import { MembershipsService } from './memberships.service';
import { type SessionProfile, SessionStore } from './session.store';
import { ApiKeyResolver, TenantDirectory } from './tenant-directory';

const BEARER = /^Bearer\s+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)$/i;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// The session behind each principal this authenticator returned (the principal object is the
// one the tenant context holds), so a handler can read the cached profile without another round trip.
const sessionsByPrincipal = new WeakMap<Principal, SessionProfile>();

/** The cached session profile behind a principal of this request, if it came from a session. */
export function sessionOf(principal: Principal): SessionProfile | undefined {
  return sessionsByPrincipal.get(principal);
}

/** The bearer token of an HTTP request or WebSocket upgrade, or undefined. */
export function bearerToken(authorization: string | undefined): string | undefined {
  return authorization ? BEARER.exec(authorization)?.[1] : undefined;
}

/**
 * Bearer access token → verified JWT → live Redis session → principal; or X-API-Key → the key's
 * tenant. X-Tenant-ID picks any tenant for a platform admin, or one of the user's memberships.
 */
@Injectable()
export class SessionAuthenticator extends RequestAuthenticator {
  private readonly logger = new Logger(SessionAuthenticator.name);

  constructor(
    private readonly verifier: AccessTokenVerifier,
    private readonly sessions: SessionStore,
    private readonly memberships: MembershipsService,
    private readonly tenants: TenantDirectory,
    private readonly apiKeys: ApiKeyResolver,
    @Inject(authConfig.KEY) private readonly config: AuthConfig,
  ) {
    super();
  }

  async authenticate(credentials: Credentials): Promise<Principal> {
    if (credentials.authorization) return this.bySession(credentials);
    if (credentials.apiKey) return this.byApiKey(credentials.apiKey, credentials.tenantId);
    throw authError(
      'AUTH.INVALID_TOKEN',
      'Send Authorization: Bearer <access token> (or X-API-Key)',
    );
  }

  private async bySession(credentials: Credentials): Promise<Principal> {
    const token = bearerToken(credentials.authorization);
    if (!token) throw invalidToken();
    const claims = await this.verifier.verify(token).catch((error: unknown) => {
      if (error instanceof JwksUnavailableError) {
        throw authError(
          'AUTH.IDENTITY_PROVIDER_UNAVAILABLE',
          'Token keys are unavailable; try again shortly',
        );
      }
      throw invalidToken();
    });
    const found = await this.sessions.findByToken(token, claims.sub, claims.hash);
    if (!found || found.session.userId !== claims.sub) {
      throw authError('AUTH.SESSION_ENDED', 'This session has ended; log in again');
    }
    const { hash } = found;
    const session =
      found.session.membershipVersion === found.membershipVersion
        ? found.session
        : await this.recheck(hash, found.session, found.membershipVersion);
    const now = Date.now();
    if (now - Date.parse(session.lastSeenAt) >= this.config.lastSeenIntervalSeconds * 1000) {
      this.sessions
        .touch(hash, new Date(now))
        .catch((error: unknown) => this.logger.warn({ err: error }, 'last_seen_at not written'));
    }
    const principal: Principal = {
      tenantId: session.tenantId,
      userId: session.userId,
      email: session.email,
      role: session.role,
      isPlatformAdmin: session.isPlatformAdmin,
      via: 'session',
      sessionId: session.id,
    };
    const chosen = credentials.tenantId;
    const result = await this.chooseTenant(principal, session, chosen);
    sessionsByPrincipal.set(result, session);
    return result;
  }

  /**
   * The user's memberships changed since this session read them (or a change was under way when
   * it did): its role and membership list are read again; a membership that is gone ends it.
   */
  private async recheck(
    hash: string,
    session: SessionProfile,
    version: string,
  ): Promise<SessionProfile> {
    const rows = await this.memberships.membershipsOf(session.userId);
    const memberships = rows.map((m) => ({ tenantId: m.tenantId, role: m.role }));
    let role = session.role;
    if (session.tenantId && !session.isPlatformAdmin) {
      const membership = memberships.find((m) => m.tenantId === session.tenantId);
      if (!membership) {
        await this.sessions.end(hash, 'membership_removed');
        throw authError('AUTH.SESSION_ENDED', 'This session has ended; log in again');
      }
      role = membership.role;
    }
    const fresh = { ...session, role, memberships, membershipVersion: version };
    await this.sessions.refreshProfile(hash, fresh);
    return fresh;
  }

  private async chooseTenant(
    principal: Principal,
    session: SessionProfile,
    chosen: string | undefined,
  ): Promise<Principal> {
    if (!chosen || chosen === session.tenantId) return principal;
    if (!UUID.test(chosen)) throw invalidTenantId('X-Tenant-ID must be a tenant uuid');

    if (session.isPlatformAdmin) {
      if (!(await this.tenants.find(chosen))) throw tenantNotFound(chosen);
      return { ...principal, tenantId: chosen, role: undefined };
    }
    // Read fresh (not from the session): a removed membership stops working at once.
    const membership = await this.memberships.membership(chosen, session.userId);
    if (!membership) throw authError('AUTH.NOT_A_MEMBER', 'You are not a member of this tenant');
    if (!(await this.tenants.find(chosen))?.active)
      throw authError('AUTH.TENANT_INACTIVE', 'This tenant is not active');
    return { ...principal, tenantId: chosen, role: membership.role };
  }

  private async byApiKey(rawKey: string, chosen: string | undefined): Promise<Principal> {
    let resolved: { tenantId: string; keyId: string } | null;
    try {
      resolved = await this.apiKeys.resolve(rawKey);
    } catch (error) {
      if (error instanceof AppError) throw error;
      this.logger.warn({ err: error }, 'API key lookup failed');
      throw authError(
        'AUTH.SESSION_STORE_UNAVAILABLE',
        'API keys cannot be checked right now; try again shortly',
      );
    }
    if (!resolved) throw authError('AUTH.INVALID_TOKEN', 'Invalid API key');
    if (chosen && chosen !== resolved.tenantId)
      throw otherTenant('This API key belongs to another tenant');
    return { tenantId: resolved.tenantId, isPlatformAdmin: false, via: 'api_key' };
  }
}
