import fc from 'fast-check';
import { type CachedSession, SessionCache } from './session-cache';

const entry = (hash: string, userId: string, tenantId = 't1', id = `s-${hash}`): CachedSession => ({
  hash,
  membershipVersion: '3',
  session: {
    id,
    userId,
    email: `${userId}@example.com`,
    tenantId,
    role: 'user',
    isPlatformAdmin: false,
    memberships: [{ tenantId, role: 'user' }],
    membershipVersion: '3',
    createdAt: '2026-01-01T00:00:00.000Z',
    expiresAt: '2026-01-01T01:00:00.000Z',
    lastSeenAt: '2026-01-01T00:00:00.000Z',
  },
});

describe('SessionCache', () => {
  let clock = 0;
  const now = () => clock;
  beforeEach(() => (clock = 1_000));

  it('keeps a session for its ttl only', () => {
    const cache = new SessionCache(1_500, 100, now);
    cache.set(entry('h1', 'u1'), cache.mark());
    clock += 1_499;
    expect(cache.get('h1')?.session.userId).toBe('u1');
    clock += 2;
    expect(cache.get('h1')).toBeUndefined();
  });

  it('keeps nothing with a ttl of 0', () => {
    const cache = new SessionCache(0, 100, now);
    cache.set(entry('h1', 'u1'), cache.mark());
    expect(cache.enabled).toBe(false);
    expect(cache.get('h1')).toBeUndefined();
  });

  it('is bounded: the least recently used session goes first', () => {
    const cache = new SessionCache(60_000, 2, now);
    cache.set(entry('h1', 'u1'), cache.mark());
    cache.set(entry('h2', 'u2'), cache.mark());
    cache.get('h1');
    cache.set(entry('h3', 'u3'), cache.mark());
    expect([cache.get('h1'), cache.get('h2'), cache.get('h3')].map((e) => e?.hash)).toEqual([
      'h1',
      undefined,
      'h3',
    ]);
    expect(cache.size).toBe(2);
  });

  it('drops every session of a user, of a session id and of a tenant, and only those', () => {
    const cache = new SessionCache(60_000, 100, now);
    for (const e of [
      entry('a1', 'ua', 't1'),
      entry('a2', 'ua', 't2'),
      entry('b1', 'ub', 't1', 'sid-b1'),
      entry('c1', 'uc', 't3'),
    ])
      cache.set(e, cache.mark());
    cache.dropUser('ua');
    expect(cache.get('a1')).toBeUndefined();
    expect(cache.get('a2')).toBeUndefined();
    expect(cache.get('b1')).toBeDefined();
    cache.dropSession('sid-b1');
    expect(cache.get('b1')).toBeUndefined();
    expect(cache.get('c1')).toBeDefined();
    cache.dropTenant('t3');
    expect(cache.size).toBe(0);
  });

  it('does not store a read that began before a drop (a revocation in flight)', () => {
    const cache = new SessionCache(60_000, 100, now);
    const mark = cache.mark();
    cache.dropUser('someone else');
    cache.set(entry('h1', 'u1'), mark);
    expect(cache.get('h1')).toBeUndefined();
    cache.set(entry('h1', 'u1'), cache.mark());
    expect(cache.get('h1')).toBeDefined();
  });

  it('records a last_seen_at write without extending the entry', () => {
    const cache = new SessionCache(1_000, 100, now);
    cache.set(entry('h1', 'u1'), cache.mark());
    clock += 900;
    cache.touched('h1', new Date('2026-01-01T00:05:00.000Z'));
    expect(cache.get('h1')?.session.lastSeenAt).toBe('2026-01-01T00:05:00.000Z');
    clock += 101;
    expect(cache.get('h1')).toBeUndefined();
  });

  it('never returns a session after its user was dropped, whatever the order of reads, sets and drops', () => {
    // Model: a set with a mark taken before any drop of the same user is refused.
    const op = fc.oneof(
      fc.record({ kind: fc.constant('read' as const), user: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ kind: fc.constant('store' as const), read: fc.nat(20) }),
      fc.record({ kind: fc.constant('drop' as const), user: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 800 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        clock = 0;
        const cache = new SessionCache(1_000, 100, now);
        const reads: { user: number; mark: number; at: number }[] = [];
        const droppedAt = new Map<number, number>();
        let step = 0;
        for (const o of ops) {
          step++;
          if (o.kind === 'read') reads.push({ user: o.user, mark: cache.mark(), at: step });
          else if (o.kind === 'store' && reads.length) {
            const read = reads[o.read % reads.length];
            cache.set(entry(`h${read.user}`, `u${read.user}`), read.mark);
          } else if (o.kind === 'drop') {
            cache.dropUser(`u${o.user}`);
            droppedAt.set(o.user, step);
          } else if (o.kind === 'tick') clock += o.ms;
          for (let user = 0; user <= 3; user++) {
            const got = cache.get(`h${user}`);
            if (!got) continue;
            // Whatever is cached was read after the user's last drop.
            const stored = reads.filter((r) => r.user === user);
            const dropped = droppedAt.get(user) ?? 0;
            if (!stored.some((r) => r.at > dropped)) return false;
          }
        }
        return true;
      }),
      { seed: 20261204, numRuns: 300 },
    );
  });
});
