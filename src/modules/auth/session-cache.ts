import { LRUCache } from 'lru-cache';
import type { SessionProfile } from './session.store';

/** A session as Redis answered it, with the user's membership version of the same read. */
export interface CachedSession {
  hash: string;
  session: SessionProfile;
  membershipVersion: string;
}

/**
 * Sessions read from Redis, reused in-process for `ttlMs` (0: nothing is kept), keyed by the
 * token hash and bounded by `max`. Whatever drops entries also advances a generation: a read
 * that began before a drop is not stored, so a lookup in flight while a revocation arrives
 * cannot put the ended session back.
 */
export class SessionCache {
  private readonly entries?: LRUCache<string, CachedSession>;
  // user id → token hashes of that user's cached sessions (revocations name users and sessions).
  private readonly byUser = new Map<string, Set<string>>();
  private generation = 0;

  constructor(ttlMs: number, max = 10_000, now?: () => number) {
    if (ttlMs <= 0) return;
    this.entries = new LRUCache<string, CachedSession>({
      max,
      ttl: ttlMs,
      ...(now ? { perf: { now }, ttlResolution: 0 } : {}),
      dispose: (value, hash) => this.unindex(value.session.userId, hash),
    });
  }

  get enabled(): boolean {
    return this.entries !== undefined;
  }

  get size(): number {
    return this.entries?.size ?? 0;
  }

  get(hash: string): CachedSession | undefined {
    return this.entries?.get(hash);
  }

  /** Taken before a read: `set` with it stores the result only if nothing was dropped since. */
  mark(): number {
    return this.generation;
  }

  set(entry: CachedSession, mark: number): void {
    if (!this.entries || mark !== this.generation) return;
    this.entries.set(entry.hash, entry);
    const hashes = this.byUser.get(entry.session.userId);
    if (hashes) hashes.add(entry.hash);
    else this.byUser.set(entry.session.userId, new Set([entry.hash]));
  }

  /** Records a last_seen_at write, so the cached copy does not ask for it again. */
  touched(hash: string, at: Date): void {
    const entry = this.entries?.get(hash);
    if (entry) entry.session = { ...entry.session, lastSeenAt: at.toISOString() };
  }

  drop(hash: string): void {
    this.generation++;
    this.entries?.delete(hash);
  }

  /** Every cached session of the user. */
  dropUser(userId: string): void {
    this.generation++;
    for (const hash of [...(this.byUser.get(userId) ?? [])]) this.entries?.delete(hash);
  }

  dropSession(sessionId: string): void {
    this.dropWhere((entry) => entry.session.id === sessionId);
  }

  dropTenant(tenantId: string): void {
    this.dropWhere((entry) => entry.session.tenantId === tenantId);
  }

  clear(): void {
    this.generation++;
    this.entries?.clear();
  }

  private dropWhere(match: (entry: CachedSession) => boolean): void {
    this.generation++;
    if (!this.entries) return;
    const hashes: string[] = [];
    for (const [hash, entry] of this.entries.entries()) if (match(entry)) hashes.push(hash);
    for (const hash of hashes) this.entries.delete(hash);
  }

  private unindex(userId: string, hash: string): void {
    const hashes = this.byUser.get(userId);
    if (!hashes) return;
    hashes.delete(hash);
    if (hashes.size === 0) this.byUser.delete(userId);
  }
}
