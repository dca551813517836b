import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { randomUUID } from 'node:crypto';
import { authConfig, type AuthConfig, redisConfig, type RedisConfig } from '../../config';
import { type Revocation, RevocationChannel } from '../../shared/auth';
import { emitLifecycleEvent } from '../../shared/lifecycle';
import { RedisService } from '../../shared/redis';
import type { TenantRole } from '../../shared/tenant-context';
import { sessionStoreDown } from './auth.errors';
import {
  SESSION_CREATED,
  SESSION_REVOKED,
  SessionCreatedEvent,
  type SessionEndReason,
  SessionRevokedEvent,
} from './auth.events';
import { type CachedSession, SessionCache } from './session-cache';
import { tokenHash } from './token-hash';

/** What a session remembers: the verified profile, so a request needs one Redis read. */
export interface SessionProfile {
  id: string;
  userId: string;
  email: string;
  tenantId?: string;
  role?: TenantRole;
  isPlatformAdmin: boolean;
  /** Every membership of the user, kept current by membership changes made through the API. */
  memberships: { tenantId: string; role: TenantRole }[];
  /**
   * The user's membership version when `role` and `memberships` were read: a session whose
   * version is behind the current one is re-checked against the database before it is used.
   */
  membershipVersion: string;
  createdAt: string;
  expiresAt: string;
  lastSeenAt: string;
  ip?: string;
  userAgent?: string;
}

export type NewSession = Omit<SessionProfile, 'id' | 'createdAt' | 'expiresAt' | 'lastSeenAt'>;

// HSET only while the session exists: a late write must never resurrect an ended session.
const SET_IF_EXISTS = `if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('HSET', KEYS[1], unpack(ARGV)) end return 0`;

// Longer than any session lives (an access token's life): a lost version only costs a re-check.
const VERSION_TTL_SECONDS = 7 * 86_400;
const REMOVAL_TTL_SECONDS = 86_400;

/**
 * Sessions in Redis, keyed by SHA-256 of the access token (TTL = the token's remaining life).
 * Per-user and per-tenant indexes (session id → token hash) list and end sessions without KEYS
 * scans. Every Redis failure becomes a 503: the caller fails closed.
 *
 * A session read is reused in-process for AUTH_SESSION_CACHE_MS. Every write that ends or
 * changes sessions is published on the revocation channel, and every instance drops what it
 * keeps of them at once; while that channel is down nothing is kept.
 */
@Injectable()
export class SessionStore implements OnApplicationShutdown {
  private readonly logger = new Logger(SessionStore.name);
  private readonly prefix: string;
  private readonly cache: SessionCache;
  private readonly unlisten: () => void;

  constructor(
    private readonly redis: RedisService,
    @Inject(redisConfig.KEY) config: RedisConfig,
    @Inject(authConfig.KEY) auth: AuthConfig,
    private readonly events: EventEmitter2,
    private readonly revocations: RevocationChannel,
  ) {
    this.prefix = `${config.keyPrefix}auth:`;
    this.cache = new SessionCache(auth.sessionCacheMs);
    this.unlisten = revocations.listen({
      revoked: (revocation) => this.forget(revocation),
      lost: () => this.cache.clear(),
    });
  }

  onApplicationShutdown(): void {
    this.unlisten();
  }

  /** Opens the session of `token` (valid until `exp`, epoch seconds); returns it. */
  async create(token: string, exp: number, fields: NewSession): Promise<SessionProfile> {
    const now = new Date();
    const ttl = exp - Math.floor(now.getTime() / 1000);
    const session: SessionProfile = {
      ...fields,
      id: randomUUID(),
      createdAt: now.toISOString(),
      expiresAt: new Date(exp * 1000).toISOString(),
      lastSeenAt: now.toISOString(),
    };
    if (ttl <= 0) return session;
    const hash = tokenHash(token);
    const userKey = this.userKey(session.userId);
    const tx = this.redis.client
      .multi()
      .hset(this.sessionKey(hash), serialize(session))
      .expire(this.sessionKey(hash), ttl)
      .hset(userKey, session.id, hash)
      // The index lives as long as its longest session (NX sets the first TTL, GT extends it).
      .expire(userKey, ttl, 'NX')
      .expire(userKey, ttl, 'GT');
    if (session.tenantId) {
      const tenantKey = this.tenantKey(session.tenantId);
      tx.hset(tenantKey, session.id, `${session.userId}:${hash}`)
        .expire(tenantKey, ttl, 'NX')
        .expire(tenantKey, ttl, 'GT');
    }
    await this.exec(tx);
    this.emit(
      SESSION_CREATED,
      new SessionCreatedEvent(
        session.tenantId ?? null,
        session.userId,
        session.id,
        new Date(session.expiresAt),
      ),
    );
    return session;
  }

  /**
   * The session of `token` (of user `userId`, the token's subject) and the user's current
   * membership version, in one round trip.
   */
  async findByToken(
    token: string,
    userId: string,
    hash = tokenHash(token),
  ): Promise<CachedSession | null> {
    const trusted = this.cache.enabled && this.cacheTrusted();
    if (trusted) {
      const cached = this.cache.get(hash);
      if (cached) return cached;
    }
    const mark = this.cache.mark();
    // Two plain commands, not a pipeline object: the client pipelines them with every other
    // request's commands of the same tick (one socket write for all).
    const [fields, version] = await this.run(() =>
      Promise.all([
        this.redis.client.hgetall(this.sessionKey(hash)),
        this.redis.client.get(this.versionKey(userId)),
      ]),
    );
    if (!fields.id) return null;
    const found = { hash, session: deserialize(fields), membershipVersion: version ?? '0' };
    // A session behind the membership version is re-checked and written back first: the next
    // read keeps the result.
    if (trusted && found.session.membershipVersion === found.membershipVersion)
      this.cache.set(found, mark);
    return found;
  }

  /** Whether a request with this token would be served from this instance's cache (diagnostics). */
  holds(token: string): boolean {
    return this.cacheTrusted() && this.cache.get(tokenHash(token)) !== undefined;
  }

  /** The user's membership version: read it before reading the memberships a session gets. */
  async membershipVersion(userId: string): Promise<string> {
    return (await this.run(() => this.redis.client.get(this.versionKey(userId)))) ?? '0';
  }

  /**
   * The user's memberships are changing: every session read before now will be re-checked
   * against the database on its next use. Throws (503) when Redis does not answer.
   */
  async bumpMembershipVersion(userId: string): Promise<void> {
    await this.exec(
      this.redis.client
        .multi()
        .incr(this.versionKey(userId))
        .expire(this.versionKey(userId), VERSION_TTL_SECONDS),
    );
    await this.revocations.publish({ kind: 'memberships', userId });
  }

  /** After a re-check: the session's role, memberships and version as the database has them. */
  async refreshProfile(
    hash: string,
    profile: Pick<SessionProfile, 'role' | 'memberships' | 'membershipVersion'>,
  ): Promise<void> {
    await this.setIfExists(hash, {
      role: profile.role ?? '',
      memberships: JSON.stringify(profile.memberships),
      membership_version: profile.membershipVersion,
    });
    this.cache.drop(hash);
  }

  /**
   * Marks a membership removal as begun (before the database change), so a retry after a
   * failure finishes it — ending the sessions — instead of answering 404. Answers whether an
   * earlier attempt had begun it and not finished.
   */
  async beginRemoval(tenantId: string, userId: string): Promise<boolean> {
    const [, , set] = await this.exec(
      this.redis.client
        .multi()
        .incr(this.versionKey(userId))
        .expire(this.versionKey(userId), VERSION_TTL_SECONDS)
        .set(this.removalKey(tenantId, userId), '1', 'EX', REMOVAL_TTL_SECONDS, 'NX'),
    );
    await this.revocations.publish({ kind: 'memberships', userId });
    return set !== 'OK';
  }

  async endRemoval(tenantId: string, userId: string): Promise<void> {
    await this.run(() => this.redis.client.del(this.removalKey(tenantId, userId)));
  }

  /** Records activity; callers decide how often (at most once a minute). */
  async touch(hash: string, at: Date): Promise<void> {
    this.cache.touched(hash, at);
    await this.setIfExists(hash, { last_seen_at: at.toISOString() });
  }

  /** The user's live sessions, newest first; index entries of expired sessions are pruned. */
  async listForUser(userId: string): Promise<(SessionProfile & { hash: string })[]> {
    const index = await this.run(() => this.redis.client.hgetall(this.userKey(userId)));
    const entries = Object.entries(index);
    if (entries.length === 0) return [];
    const pipeline = this.redis.client.pipeline();
    for (const [, hash] of entries) pipeline.hgetall(this.sessionKey(hash));
    const results = await this.exec(pipeline);
    const live: (SessionProfile & { hash: string })[] = [];
    const stale: string[] = [];
    entries.forEach(([id, hash], i) => {
      const fields = results[i] as Record<string, string>;
      if (fields.id) live.push({ ...deserialize(fields), hash });
      else stale.push(id);
    });
    if (stale.length) await this.run(() => this.redis.client.hdel(this.userKey(userId), ...stale));
    return live.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  /** Ends one of the user's sessions by id; false when the user has no such session. */
  async endById(userId: string, sessionId: string, reason: SessionEndReason): Promise<boolean> {
    const hash = await this.run(() => this.redis.client.hget(this.userKey(userId), sessionId));
    if (!hash) return false;
    await this.end(hash, reason);
    return true;
  }

  /** Ends the session of `hash` and removes it from its indexes. */
  async end(hash: string, reason: SessionEndReason): Promise<void> {
    const fields = await this.run(() =>
      this.redis.client.hmget(this.sessionKey(hash), 'id', 'user_id', 'tenant_id'),
    );
    const [id, userId, tenantId] = fields;
    if (!id || !userId) {
      await this.run(() => this.redis.client.del(this.sessionKey(hash)));
      return;
    }
    await this.endMany([{ hash, id, userId, tenantId: tenantId || undefined }], reason);
  }

  async endAllForUser(userId: string, reason: SessionEndReason): Promise<number> {
    const sessions = await this.listForUser(userId);
    return this.endMany(sessions, reason);
  }

  async endForUserInTenant(
    userId: string,
    tenantId: string,
    reason: SessionEndReason,
  ): Promise<number> {
    const sessions = (await this.listForUser(userId)).filter((s) => s.tenantId === tenantId);
    return this.endMany(sessions, reason);
  }

  /** Ends every session opened in the tenant (the tenant is being deleted). */
  async endAllForTenant(tenantId: string, reason: SessionEndReason): Promise<number> {
    const index = await this.run(() => this.redis.client.hgetall(this.tenantKey(tenantId)));
    const sessions = Object.entries(index).map(([id, value]) => {
      const [userId, hash] = value.split(':');
      return { id, userId, hash, tenantId };
    });
    const ended = await this.endMany(sessions, reason);
    await this.run(() => this.redis.client.del(this.tenantKey(tenantId)));
    return ended;
  }

  /** A role change applies to the user's open sessions in that tenant at once. */
  async updateRole(userId: string, tenantId: string, role: TenantRole): Promise<void> {
    const sessions = (await this.listForUser(userId)).filter((s) => s.tenantId === tenantId);
    for (const session of sessions) await this.setIfExists(session.hash, { role });
    await this.revocations.publish({ kind: 'memberships', userId });
  }

  /** The user's memberships changed: every open session of theirs shows the new list. */
  async setMemberships(
    userId: string,
    memberships: { tenantId: string; role: TenantRole }[],
  ): Promise<void> {
    const value = JSON.stringify(memberships);
    for (const session of await this.listForUser(userId))
      await this.setIfExists(session.hash, { memberships: value });
    await this.revocations.publish({ kind: 'memberships', userId });
  }

  /** Remembers which user a refresh token belongs to (SECRET_HASH needs the username). */
  async rememberRefreshToken(
    refreshToken: string,
    username: string,
    ttlSeconds: number,
  ): Promise<void> {
    await this.run(() =>
      this.redis.client.set(this.refreshKey(refreshToken), username, 'EX', ttlSeconds),
    );
  }

  async refreshTokenUser(refreshToken: string): Promise<string | null> {
    return this.run(() => this.redis.client.get(this.refreshKey(refreshToken)));
  }

  async forgetRefreshToken(refreshToken: string): Promise<void> {
    await this.run(() => this.redis.client.del(this.refreshKey(refreshToken)));
  }

  /**
   * Ends the sessions; one `auth.session.revoked` for each this call actually deleted (a session
   * two callers end at once is reported once). Answers how many it ended.
   */
  private async endMany(
    sessions: { hash: string; id: string; userId: string; tenantId?: string }[],
    reason: SessionEndReason,
  ): Promise<number> {
    if (sessions.length === 0) return 0;
    const tx = this.redis.client.multi();
    const deletes: number[] = [];
    let index = 0;
    for (const s of sessions) {
      deletes.push(index);
      tx.del(this.sessionKey(s.hash)).hdel(this.userKey(s.userId), s.id);
      index += 2;
      if (s.tenantId) {
        tx.hdel(this.tenantKey(s.tenantId), s.id);
        index += 1;
      }
    }
    const results = await this.exec(tx);
    // Every instance drops what it keeps of them, also of those another caller ended first.
    await Promise.all(
      sessions.map((s) =>
        this.revocations.publish({ kind: 'session', sessionId: s.id, userId: s.userId }),
      ),
    );
    let ended = 0;
    sessions.forEach((s, i) => {
      if (results[deletes[i]] !== 1) return;
      ended += 1;
      this.emit(
        SESSION_REVOKED,
        new SessionRevokedEvent(s.tenantId ?? null, s.userId, s.id, reason),
      );
    });
    return ended;
  }

  /** What this instance keeps of sessions a revocation names, made here or elsewhere. */
  private forget(revocation: Revocation): void {
    switch (revocation.kind) {
      case 'session':
        if (revocation.userId) this.cache.dropUser(revocation.userId);
        else this.cache.dropSession(revocation.sessionId);
        return;
      case 'user':
      case 'role':
      case 'memberships':
        return this.cache.dropUser(revocation.userId);
      case 'tenant':
        return this.cache.dropTenant(revocation.tenantId);
      case 'key':
        return;
    }
  }

  /** Cached sessions are used only while every revocation reaches this instance. */
  private cacheTrusted(): boolean {
    return this.revocations.live && this.redis.client.status === 'ready';
  }

  private emit(name: string, payload: object): void {
    emitLifecycleEvent(this.events, this.logger, name, payload);
  }

  private async setIfExists(hash: string, fields: Record<string, string>): Promise<void> {
    const args = Object.entries(fields).flat();
    await this.run(() => this.redis.client.eval(SET_IF_EXISTS, 1, this.sessionKey(hash), ...args));
  }

  private async exec(batch: {
    exec(): Promise<[Error | null, unknown][] | null>;
  }): Promise<unknown[]> {
    const results = await this.run(() => batch.exec());
    if (!results) throw sessionStoreDown();
    const failed = results.find(([error]) => error);
    if (failed?.[0]) {
      this.logger.warn({ err: failed[0] }, 'Redis command failed');
      throw sessionStoreDown();
    }
    return results.map(([, value]) => value);
  }

  private async run<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      this.logger.warn({ err: error }, 'Session store unavailable');
      throw sessionStoreDown();
    }
  }

  private sessionKey = (hash: string) => `${this.prefix}session:${hash}`;
  private versionKey = (userId: string) => `${this.prefix}mv:${userId}`;
  private removalKey = (tenantId: string, userId: string) =>
    `${this.prefix}removing:${tenantId}:${userId}`;
  private userKey = (userId: string) => `${this.prefix}user:${userId}`;
  private tenantKey = (tenantId: string) => `${this.prefix}tenant:${tenantId}`;
  private refreshKey = (token: string) => `${this.prefix}refresh:${tokenHash(token)}`;
}

function serialize(s: SessionProfile): Record<string, string> {
  return {
    id: s.id,
    user_id: s.userId,
    email: s.email,
    tenant_id: s.tenantId ?? '',
    role: s.role ?? '',
    is_admin: s.isPlatformAdmin ? '1' : '0',
    memberships: JSON.stringify(s.memberships),
    membership_version: s.membershipVersion,
    created_at: s.createdAt,
    expires_at: s.expiresAt,
    last_seen_at: s.lastSeenAt,
    ip: s.ip ?? '',
    user_agent: s.userAgent ?? '',
  };
}

function deserialize(f: Record<string, string>): SessionProfile {
  return {
    id: f.id,
    userId: f.user_id,
    email: f.email,
    tenantId: f.tenant_id || undefined,
    role: (f.role || undefined) as TenantRole | undefined,
    isPlatformAdmin: f.is_admin === '1',
    memberships: f.memberships ? (JSON.parse(f.memberships) as SessionProfile['memberships']) : [],
    membershipVersion: f.membership_version ?? '',
    createdAt: f.created_at,
    expiresAt: f.expires_at,
    lastSeenAt: f.last_seen_at,
    ip: f.ip || undefined,
    userAgent: f.user_agent || undefined,
  };
}
