import { Inject, Injectable, Logger } from '@nestjs/common';
import { authConfig, type AuthConfig } from '../../config';
import { AppError } from '../../shared/errors';
import type { Principal, TenantRole } from '../../shared/tenant-context';
import { TenantAuditTrail, tenantNotFound } from '../tenancy';
import { AccessTokenVerifier } from './access-token.verifier';
import { authError } from './auth.errors';
import { AuthRateLimiter } from './auth-rate-limiter';
import { CognitoClient, type CognitoTokens } from './cognito.client';
import type { LoginDto, RefreshDto, RegisterDto } from './dto/auth.dto';
import { MembershipsService } from './memberships.service';
import { type SessionProfile, SessionStore } from './session.store';
import { TenantDirectory } from './tenant-directory';

export interface ClientMeta {
  ip?: string;
  userAgent?: string;
}

export interface LoginResult {
  access_token: string;
  id_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
  session_id: string;
  user: {
    user_id: string;
    email: string;
    role: TenantRole | null;
    tenant_id: string | null;
    is_admin: boolean;
  };
}

/** Register, login, refresh, logout: Cognito proves who the user is, the session says for which tenant. */
@Injectable()
export class AuthService {
  private readonly logger = new Logger(AuthService.name);

  constructor(
    private readonly cognito: CognitoClient,
    private readonly verifier: AccessTokenVerifier,
    private readonly sessions: SessionStore,
    private readonly memberships: MembershipsService,
    private readonly tenants: TenantDirectory,
    private readonly limiter: AuthRateLimiter,
    private readonly audit: TenantAuditTrail,
    @Inject(authConfig.KEY) private readonly config: AuthConfig,
  ) {}

  async register(body: RegisterDto, meta: ClientMeta) {
    if (body.role === 'tenant_owner') {
      throw authError(
        'AUTH.FORBIDDEN',
        'Self sign-up is always as user; owners are added by an owner or a platform admin',
      );
    }
    await this.limiter.attempt(undefined, meta.ip);
    const tenant = await this.tenants.find(body.tenant_id);
    if (!tenant || !tenant.active) throw tenantNotFound(body.tenant_id);
    if (!tenant.allowSelfSignup)
      throw authError('AUTH.SIGNUP_CLOSED', 'This tenant does not allow self sign-up');

    // Register tests the password of an existing account: it counts against the same per-account
    // limit as login, so it can never guess faster (and is refused alike once limited).
    await this.limiter.attempt(body.email, undefined);
    let userId: string;
    let confirmed: boolean;
    let created = false;
    try {
      ({ userId, confirmed } = await this.cognito.signUp(body.email, body.password, body.name));
      created = true;
    } catch (error) {
      if (!(error instanceof AppError && error.code === 'AUTH.ACCOUNT_EXISTS')) throw error;
      // An existing account joins this tenant only by proving its password.
      const claims = await this.verifier.verify(
        (await this.cognito.passwordAuth(body.email, body.password)).accessToken,
      );
      userId = claims.sub;
      confirmed = true;
    }
    if (created && !confirmed && this.config.signupConfirmation === 'auto') {
      await this.cognito.adminConfirm(body.email);
      confirmed = true;
    }
    try {
      await this.memberships.add(tenant.id, userId, body.email, 'user');
    } catch (error) {
      // Keep Cognito and the registry in step: no account without its membership.
      if (created) await this.cognito.adminDeleteUser(body.email).catch(() => undefined);
      throw error;
    }
    if (!created) await this.syncMemberships(userId);
    return {
      user_id: userId,
      email: body.email,
      tenant_id: tenant.id,
      role: 'user' as const,
      confirmed,
    };
  }

  async login(body: LoginDto, meta: ClientMeta): Promise<LoginResult> {
    await this.limiter.attempt(body.email, meta.ip);
    const tokens = await this.cognito.passwordAuth(body.email, body.password, body.new_password);
    const result = await this.openSession(tokens, tokens.refreshToken!, body.tenant_id, meta);
    await this.sessions.rememberRefreshToken(
      tokens.refreshToken!,
      body.email,
      this.config.refreshTokenDays * 86_400,
    );
    const { user_id: userId, tenant_id: tenantId, role } = result.user;
    // A login into a tenant is the tenant's business (a refresh is not a new login).
    if (tenantId) await this.audit.record(tenantId, 'auth.login', { role }, userId);
    return result;
  }

  /** A new access token and a new session; the refresh token stays the same (Cognito does not rotate it). */
  async refresh(body: RefreshDto, meta: ClientMeta): Promise<LoginResult> {
    const knownUser = await this.sessions.refreshTokenUser(body.refresh_token);
    const username = knownUser ?? body.email?.toLowerCase() ?? body.username?.toLowerCase();
    await this.limiter.attempt(username ?? `refresh:${body.refresh_token}`, meta.ip);
    const tokens = await this.cognito.refresh(body.refresh_token, username);
    return this.openSession(
      tokens,
      tokens.refreshToken ?? body.refresh_token,
      body.tenant_id,
      meta,
    );
  }

  /** Ends this session; `all` also signs the user out of Cognito (refresh tokens revoked) and ends every session. */
  async logout(principal: Principal, accessToken: string, all: boolean): Promise<void> {
    if (all) {
      await this.cognito.globalSignOut(accessToken);
      await this.sessions.endAllForUser(principal.userId!, 'global_sign_out');
      return;
    }
    if (principal.sessionId)
      await this.sessions.endById(principal.userId!, principal.sessionId, 'logout');
  }

  private async openSession(
    tokens: CognitoTokens,
    refreshToken: string,
    requested: string | undefined,
    meta: ClientMeta,
  ): Promise<LoginResult> {
    const claims = await this.verifier.verify(tokens.accessToken).catch((error: unknown) => {
      // Our own pool's fresh token does not verify: a configuration problem, not the caller's.
      this.logger.error({ err: error }, 'A token just issued by Cognito failed verification');
      throw authError(
        'AUTH.IDENTITY_PROVIDER_UNAVAILABLE',
        'Tokens could not be verified; check the Cognito configuration',
      );
    });
    const userId = claims.sub;
    // Read before the memberships: a change committed meanwhile leaves this session behind the
    // current version, so it is re-checked on first use instead of keeping the old role.
    const membershipVersion = await this.sessions.membershipVersion(userId);
    const { tenantId, role, email, isPlatformAdmin, memberships } = await this.chooseTenant(
      userId,
      requested,
    );
    const session: SessionProfile = await this.sessions.create(tokens.accessToken, claims.exp, {
      userId,
      email,
      tenantId,
      role,
      isPlatformAdmin,
      memberships,
      membershipVersion,
      ip: meta.ip,
      userAgent: meta.userAgent?.slice(0, 300),
    });
    if (tenantId && role) {
      await this.memberships
        .recordLogin(tenantId, userId)
        .catch((error: unknown) => this.logger.warn({ err: error }, 'last_login_at not recorded'));
    }
    return {
      access_token: tokens.accessToken,
      id_token: tokens.idToken,
      refresh_token: refreshToken,
      token_type: tokens.tokenType,
      expires_in: tokens.expiresIn,
      session_id: session.id,
      user: {
        user_id: userId,
        email,
        role: role ?? null,
        tenant_id: tenantId ?? null,
        is_admin: isPlatformAdmin,
      },
    };
  }

  /**
   * The tenant of the new session: the requested one (a membership, or any tenant for a platform
   * admin), else the oldest active membership; platform admins otherwise have none.
   */
  private async chooseTenant(userId: string, requested?: string): Promise<SessionChoice> {
    const [admin, rows] = await Promise.all([
      this.memberships.isPlatformAdmin(userId),
      this.memberships.membershipsOf(userId),
    ]);
    const memberships = rows.map((m) => ({ tenantId: m.tenantId, role: m.role }));
    if (admin) {
      if (!requested) return { email: admin.email, isPlatformAdmin: true, memberships };
      const tenant = await this.tenants.find(requested);
      if (!tenant) throw tenantNotFound(requested);
      return { tenantId: tenant.id, email: admin.email, isPlatformAdmin: true, memberships };
    }
    const candidates = requested ? rows.filter((m) => m.tenantId === requested) : rows;
    if (requested && candidates.length === 0) {
      throw authError('AUTH.NOT_A_MEMBER', 'You are not a member of this tenant');
    }
    for (const membership of candidates) {
      const tenant = await this.tenants.find(membership.tenantId);
      if (tenant?.active) {
        return {
          tenantId: tenant.id,
          role: membership.role,
          email: membership.email,
          isPlatformAdmin: false,
          memberships,
        };
      }
    }
    throw authError(
      requested ? 'AUTH.TENANT_INACTIVE' : 'AUTH.NOT_A_MEMBER',
      requested ? 'This tenant is not active' : 'You are not a member of any active tenant',
    );
  }

  /** After a membership change: open sessions show the new list (GET /auth/me reads it from there). */
  async syncMemberships(userId: string): Promise<void> {
    const rows = await this.memberships.membershipsOf(userId);
    await this.sessions.setMemberships(
      userId,
      rows.map((m) => ({ tenantId: m.tenantId, role: m.role })),
    );
  }
}

interface SessionChoice {
  tenantId?: string;
  role?: TenantRole;
  email: string;
  isPlatformAdmin: boolean;
  memberships: { tenantId: string; role: TenantRole }[];
}
