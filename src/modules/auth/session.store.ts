import { Inject, Injectable, Logger } from '@nestjs/common';
import { createHash, randomUUID } from 'node:crypto';
import { redisConfig, type RedisConfig } from '../../config';
import { RedisService } from '../../shared/redis';
import type { TenantRole } from '../../shared/tenant-context';
import { sessionStoreDown } from './auth.errors';

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
  createdAt: string;
  expiresAt: string;
  lastSeenAt: string;
  ip?: string;
  userAgent?: string;
}

export type NewSession = Omit<SessionProfile, 'id' | 'createdAt' | 'expiresAt' | 'lastSeenAt'>;

// HSET only while the session exists: a late write must never resurrect an ended session.
const SET_IF_EXISTS = `if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('HSET', KEYS[1], unpack(ARGV)) end return 0`;

export const tokenHash = (token: string) => createHash('sha256').update(token).digest('hex');

/**
 * Sessions in Redis, keyed by SHA-256 of the access token (TTL = the token's remaining life).
 * Per-user and per-tenant indexes (session id → token hash) list and end sessions without KEYS
 * scans. Every Redis failure becomes a 503: the caller fails closed.
 */
@Injectable()
export class SessionStore {
  private readonly logger = new Logger(SessionStore.name);
  private readonly prefix: string;

  constructor(
    private readonly redis: RedisService,
    @Inject(redisConfig.KEY) config: RedisConfig,
  ) {
    this.prefix = `${config.keyPrefix}auth:`;
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
    return session;
  }

  async findByToken(token: string): Promise<{ hash: string; session: SessionProfile } | null> {
    const hash = tokenHash(token);
    const fields = await this.run(() => this.redis.client.hgetall(this.sessionKey(hash)));
    return fields.id ? { hash, session: deserialize(fields) } : null;
  }

  /** Records activity; callers decide how often (at most once a minute). */
  async touch(hash: string, at: Date): Promise<void> {
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
  async endById(userId: string, sessionId: string): Promise<boolean> {
    const hash = await this.run(() => this.redis.client.hget(this.userKey(userId), sessionId));
    if (!hash) return false;
    await this.end(hash);
    return true;
  }

  /** Ends the session of `hash` and removes it from its indexes. */
  async end(hash: string): Promise<void> {
    const fields = await this.run(() =>
      this.redis.client.hmget(this.sessionKey(hash), 'id', 'user_id', 'tenant_id'),
    );
    const [id, userId, tenantId] = fields;
    const tx = this.redis.client.multi().del(this.sessionKey(hash));
    if (id && userId) tx.hdel(this.userKey(userId), id);
    if (id && tenantId) tx.hdel(this.tenantKey(tenantId), id);
    await this.exec(tx);
  }

  async endAllForUser(userId: string): Promise<number> {
    const sessions = await this.listForUser(userId);
    await this.endMany(sessions);
    return sessions.length;
  }

  async endForUserInTenant(userId: string, tenantId: string): Promise<number> {
    const sessions = (await this.listForUser(userId)).filter((s) => s.tenantId === tenantId);
    await this.endMany(sessions);
    return sessions.length;
  }

  /** Ends every session opened in the tenant (the tenant is being deleted). */
  async endAllForTenant(tenantId: string): Promise<number> {
    const index = await this.run(() => this.redis.client.hgetall(this.tenantKey(tenantId)));
    const tx = this.redis.client.multi().del(this.tenantKey(tenantId));
    for (const [id, value] of Object.entries(index)) {
      const [userId, hash] = value.split(':');
      tx.del(this.sessionKey(hash)).hdel(this.userKey(userId), id);
    }
    await this.exec(tx);
    return Object.keys(index).length;
  }

  /** A role change applies to the user's open sessions in that tenant at once. */
  async updateRole(userId: string, tenantId: string, role: TenantRole): Promise<void> {
    const sessions = (await this.listForUser(userId)).filter((s) => s.tenantId === tenantId);
    for (const session of sessions) await this.setIfExists(session.hash, { role });
  }

  /** The user's memberships changed: every open session of theirs shows the new list. */
  async setMemberships(
    userId: string,
    memberships: { tenantId: string; role: TenantRole }[],
  ): Promise<void> {
    const value = JSON.stringify(memberships);
    for (const session of await this.listForUser(userId))
      await this.setIfExists(session.hash, { memberships: value });
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

  private async endMany(
    sessions: { hash: string; id: string; userId: string; tenantId?: string }[],
  ): Promise<void> {
    if (sessions.length === 0) return;
    const tx = this.redis.client.multi();
    for (const s of sessions) {
      tx.del(this.sessionKey(s.hash)).hdel(this.userKey(s.userId), s.id);
      if (s.tenantId) tx.hdel(this.tenantKey(s.tenantId), s.id);
    }
    await this.exec(tx);
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
    createdAt: f.created_at,
    expiresAt: f.expires_at,
    lastSeenAt: f.last_seen_at,
    ip: f.ip || undefined,
    userAgent: f.user_agent || undefined,
  };
}
