import { Injectable } from '@nestjs/common';
import { AppError } from '../../shared/errors';
import { TenantContext } from '../../shared/tenant-context';
import { otherTenant, tenantNotFound } from '../tenancy';
import { authError } from './auth.errors';
import { AuthService } from './auth.service';
import { CognitoClient } from './cognito.client';
import type {
  AddTenantUserDto,
  ChangeRoleDto,
  ListQueryDto,
  TenantUserView,
} from './dto/tenant-users.dto';
import { MembershipsService } from './memberships.service';
import { SessionStore } from './session.store';
import type { TenantUserEntity } from './tenant-user.entity';
import { TenantDirectory } from './tenant-directory';

const view = (m: TenantUserEntity): TenantUserView => ({
  user_id: m.userId,
  email: m.email,
  role: m.role,
  created_at: m.createdAt.toISOString(),
  last_login_at: m.lastLoginAt?.toISOString() ?? null,
});

/** An owner's (or a platform admin's) management of a tenant's users. */
@Injectable()
export class TenantUsersService {
  constructor(
    private readonly context: TenantContext,
    private readonly memberships: MembershipsService,
    private readonly sessions: SessionStore,
    private readonly cognito: CognitoClient,
    private readonly tenants: TenantDirectory,
    private readonly auth: AuthService,
  ) {}

  /**
   * The tenant the caller may manage: a platform admin any existing tenant; an owner only the
   * tenant of this request (their session's, or the membership chosen with X-Tenant-ID).
   */
  async managedTenant(tenantId?: string): Promise<string> {
    const principal = this.context.principal;
    const target = tenantId ?? this.context.tenantId;
    if (principal.isPlatformAdmin) {
      if (!(await this.tenants.find(target))) throw tenantNotFound(target);
      return target;
    }
    if (principal.tenantId !== target) {
      throw otherTenant(
        'You manage the users of your own tenant only (X-Tenant-ID chooses among yours)',
      );
    }
    return target;
  }

  async list(tenantId: string, query: ListQueryDto) {
    const page = await this.memberships.list(tenantId, query.limit, query.cursor);
    return { data: page.rows.map(view), next_cursor: page.next };
  }

  async get(tenantId: string, userId: string): Promise<TenantUserView> {
    const member = await this.memberships.membership(tenantId, userId);
    if (!member) throw authError('AUTH.USER_NOT_FOUND', 'No such user in this tenant');
    return view(member);
  }

  /** Creates the Cognito account (invited, or with a temporary password) unless it exists, then the membership. */
  async add(tenantId: string, body: AddTenantUserDto): Promise<TenantUserView> {
    let userId: string;
    let created = false;
    try {
      userId = await this.cognito.adminCreateUser(body.email, body.temporary_password);
      created = true;
    } catch (error) {
      if (!(error instanceof AppError && error.code === 'AUTH.ACCOUNT_EXISTS')) throw error;
      // The person already has an account (e.g. in another tenant): they join this one too.
      const existing = await this.cognito.findUserId(body.email);
      if (!existing) throw error;
      userId = existing;
    }
    let member: TenantUserEntity;
    try {
      member = await this.memberships.add(tenantId, userId, body.email, body.role);
    } catch (error) {
      if (created) await this.cognito.adminDeleteUser(body.email).catch(() => undefined);
      throw error;
    }
    if (!created) {
      await this.sessions.bumpMembershipVersion(userId);
      await this.auth.syncMemberships(userId);
    }
    return view(member);
  }

  /**
   * The version is bumped before the change (so the user's sessions re-check their role even if
   * what follows fails) and after it (for a login that read the old role meanwhile); a retry
   * after a 503 sets the same role again and redoes the rest.
   */
  async changeRole(tenantId: string, userId: string, body: ChangeRoleDto): Promise<TenantUserView> {
    await this.sessions.bumpMembershipVersion(userId);
    const member = await this.memberships.changeRole(tenantId, userId, body.role);
    await this.sessions.bumpMembershipVersion(userId);
    await this.sessions.updateRole(userId, tenantId, body.role);
    await this.auth.syncMemberships(userId);
    return view(member);
  }

  /**
   * Removes the membership and ends the user's sessions in this tenant (the account stays). The
   * removal is marked begun in Redis before the database change: when ending the sessions fails
   * after the commit (503), a retry finds the mark and finishes the work instead of a 404.
   */
  async remove(tenantId: string, userId: string): Promise<void> {
    const unfinished = await this.sessions.beginRemoval(tenantId, userId);
    try {
      await this.memberships.remove(tenantId, userId);
    } catch (error) {
      const retry = unfinished && error instanceof AppError && error.code === 'AUTH.USER_NOT_FOUND';
      if (!retry) {
        // Only the mark this call set: another removal of the same member may be under way.
        if (!unfinished) await this.sessions.endRemoval(tenantId, userId).catch(() => undefined);
        throw error;
      }
    }
    await this.sessions.bumpMembershipVersion(userId);
    await this.sessions.endForUserInTenant(userId, tenantId, 'membership_removed');
    await this.auth.syncMemberships(userId);
    await this.sessions.endRemoval(tenantId, userId);
  }
}
