import type { TenantRole } from '../../shared/tenant-context';

/** Emitted after a session was opened (login or refresh). */
export const SESSION_CREATED = 'auth.session.created';
/** Emitted once for every session that ended, whatever ended it. */
export const SESSION_REVOKED = 'auth.session.revoked';
/** Emitted after a user became a member of a tenant (added by an owner/admin, or self sign-up). */
export const USER_ADDED = 'auth.user.added';
/** Emitted after a user's membership of a tenant was removed. */
export const USER_REMOVED = 'auth.user.removed';
/** Emitted after a member's role in a tenant changed. */
export const USER_ROLE_CHANGED = 'auth.user.role_changed';

export type SessionEndReason =
  'logout' | 'revoked' | 'global_sign_out' | 'membership_removed' | 'tenant_deleted';

/** Payload of `auth.session.created`; `tenantId` is null for a platform admin's tenant-less session. */
export class SessionCreatedEvent {
  constructor(
    readonly tenantId: string | null,
    readonly userId: string,
    readonly sessionId: string,
    readonly expiresAt: Date,
  ) {}
}

/** Payload of `auth.session.revoked`. */
export class SessionRevokedEvent {
  constructor(
    readonly tenantId: string | null,
    readonly userId: string,
    readonly sessionId: string,
    readonly reason: SessionEndReason,
  ) {}
}

/** Payload of `auth.user.added`. */
export class UserAddedEvent {
  constructor(
    readonly tenantId: string,
    readonly userId: string,
    readonly email: string,
    readonly role: TenantRole,
  ) {}
}

/** Payload of `auth.user.removed`. */
export class UserRemovedEvent {
  constructor(
    readonly tenantId: string,
    readonly userId: string,
  ) {}
}

/** Payload of `auth.user.role_changed`. */
export class UserRoleChangedEvent {
  constructor(
    readonly tenantId: string,
    readonly userId: string,
    readonly role: TenantRole,
  ) {}
}
