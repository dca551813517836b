import { Injectable, Logger } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { InjectRepository } from '@nestjs/typeorm';
import { QueryFailedError, type Repository } from 'typeorm';
import { z } from 'zod';
import { emitLifecycleEvent } from '../../shared/lifecycle';
import { cursorCodec, cursorParts, withCursorInstant } from '../../shared/pagination';
import type { TenantRole } from '../../shared/tenant-context';
import { TenantAuditTrail } from '../tenancy';
import { authError } from './auth.errors';
import {
  USER_ADDED,
  USER_REMOVED,
  USER_ROLE_CHANGED,
  UserAddedEvent,
  UserRemovedEvent,
  UserRoleChangedEvent,
} from './auth.events';
import { PlatformAdminEntity } from './platform-admin.entity';
import { TenantUserEntity } from './tenant-user.entity';

// (created_at to the microsecond, user_id — a Cognito sub, a uuid): the oldest-first member list.
const memberCursor = cursorCodec(z.tuple([cursorParts.instant, cursorParts.uuid]));

const isUniqueViolation = (error: unknown) =>
  error instanceof QueryFailedError && (error.driverError as { code?: string }).code === '23505';

/** Platform admins and tenant memberships (platform database). */
@Injectable()
export class MembershipsService {
  private readonly logger = new Logger(MembershipsService.name);

  constructor(
    @InjectRepository(TenantUserEntity) private readonly members: Repository<TenantUserEntity>,
    @InjectRepository(PlatformAdminEntity) private readonly admins: Repository<PlatformAdminEntity>,
    private readonly events: EventEmitter2,
    private readonly audit: TenantAuditTrail,
  ) {}

  async isPlatformAdmin(userId: string): Promise<PlatformAdminEntity | null> {
    return this.admins.findOneBy({ userId });
  }

  /** Oldest first: the first active one is the default tenant at login. */
  membershipsOf(userId: string): Promise<TenantUserEntity[]> {
    return this.members.find({ where: { userId }, order: { createdAt: 'ASC', tenantId: 'ASC' } });
  }

  membership(tenantId: string, userId: string): Promise<TenantUserEntity | null> {
    return this.members.findOneBy({ tenantId, userId });
  }

  async add(
    tenantId: string,
    userId: string,
    email: string,
    role: TenantRole,
  ): Promise<TenantUserEntity> {
    try {
      await this.members.insert({ tenantId, userId, email, role });
    } catch (error) {
      if (isUniqueViolation(error))
        throw authError('AUTH.ALREADY_MEMBER', 'This user is already a member of the tenant');
      throw error;
    }
    this.emit(USER_ADDED, new UserAddedEvent(tenantId, userId, email, role));
    // Self sign-up has no caller yet: the new member is the actor.
    const actor = this.audit.currentActor() ?? userId;
    await this.audit.record(tenantId, 'user.added', { user_id: userId, role }, actor);
    return (await this.membership(tenantId, userId))!;
  }

  async addPlatformAdmin(userId: string, email: string): Promise<void> {
    await this.admins.upsert({ userId, email }, ['userId']);
  }

  /** One page, oldest first; the cursor encodes (created_at, user_id) so pages are stable. */
  async list(
    tenantId: string,
    limit: number,
    cursor?: string,
  ): Promise<{ rows: TenantUserEntity[]; next: string | null }> {
    const query = this.members
      .createQueryBuilder('m')
      .where('m.tenant_id = :tenantId', { tenantId })
      .orderBy('m.created_at', 'ASC')
      .addOrderBy('m.user_id', 'ASC')
      .limit(limit + 1);
    if (cursor) {
      const [at, id] = memberCursor.decode(cursor);
      query.andWhere('(m.created_at, m.user_id) > (:at::timestamptz, :id::text)', { at, id });
    }
    const rows = await withCursorInstant(query, 'm.created_at');
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    const next =
      rows.length > limit && last ? memberCursor.encode([last.at, last.row.userId]) : null;
    return { rows: page.map(({ row }) => row), next };
  }

  /** Changes a role; the tenant always keeps one owner. */
  async changeRole(tenantId: string, userId: string, role: TenantRole): Promise<TenantUserEntity> {
    const changed = await this.members.manager.transaction(async (tx) => {
      const member = await this.lockedMember(tx.getRepository(TenantUserEntity), tenantId, userId);
      if (member.role === 'tenant_owner' && role !== 'tenant_owner')
        await this.assertAnotherOwner(tx.getRepository(TenantUserEntity), tenantId, userId);
      await tx
        .getRepository(TenantUserEntity)
        .update({ tenantId, userId }, { role, updatedAt: new Date() });
      return { ...member, role };
    });
    this.emit(USER_ROLE_CHANGED, new UserRoleChangedEvent(tenantId, userId, role));
    await this.audit.record(tenantId, 'user.role_changed', { user_id: userId, role });
    return changed;
  }

  async remove(tenantId: string, userId: string): Promise<void> {
    await this.members.manager.transaction(async (tx) => {
      const repo = tx.getRepository(TenantUserEntity);
      const member = await this.lockedMember(repo, tenantId, userId);
      if (member.role === 'tenant_owner') await this.assertAnotherOwner(repo, tenantId, userId);
      await repo.delete({ tenantId, userId });
    });
    this.emit(USER_REMOVED, new UserRemovedEvent(tenantId, userId));
    await this.audit.record(tenantId, 'user.removed', { user_id: userId });
  }

  async recordLogin(tenantId: string, userId: string): Promise<void> {
    await this.members.update({ tenantId, userId }, { lastLoginAt: new Date() });
  }

  private emit(name: string, payload: object): void {
    emitLifecycleEvent(this.events, this.logger, name, payload);
  }

  private async lockedMember(
    repo: Repository<TenantUserEntity>,
    tenantId: string,
    userId: string,
  ): Promise<TenantUserEntity> {
    const member = await repo.findOne({
      where: { tenantId, userId },
      lock: { mode: 'pessimistic_write' },
    });
    if (!member) throw authError('AUTH.USER_NOT_FOUND', 'No such user in this tenant');
    return member;
  }

  // Locks every owner row: two owners demoting each other concurrently cannot both succeed.
  private async assertAnotherOwner(
    repo: Repository<TenantUserEntity>,
    tenantId: string,
    userId: string,
  ): Promise<void> {
    const owners = await repo.find({
      where: { tenantId, role: 'tenant_owner' },
      lock: { mode: 'pessimistic_write' },
    });
    if (!owners.some((owner) => owner.userId !== userId)) {
      throw authError(
        'AUTH.LAST_OWNER',
        'A tenant keeps at least one owner: make someone else owner first',
      );
    }
  }
}
