import type { Redis } from 'ioredis';
import request from 'supertest';
import WebSocket from 'ws';
import { authConfig } from '../../src/config';
import { SessionStore } from '../../src/modules/auth';
import { RedisService } from '../../src/shared/redis';
import { createTestApp, type TestApp } from '../support/app';
import { decodePart, motoKey, signRs256 } from '../support/forged-tokens';
import { createTenant, type Identity, platformAdmin, tenantMember } from '../support/identities';
import { eventually } from '../support/services';

type Tenant = { id: string; api_key: string };
type Closed = { code: number; reason: string };

/**
 * Open sockets close (4401) when their credential ends, on every instance: the socket lives on
 * instance two, the credential ends through instance one. Refusals at the upgrade carry their status.
 * The same channel drops the sessions instance two keeps in-process: both instances cache sessions
 * for a minute here, so a refusal on two within seconds can only come from the push.
 */
describe('WebSocket: credentials that end close their sockets on every instance', () => {
  let one: TestApp;
  let two: TestApp;
  let admin: Identity;
  let tenant: Tenant;
  let owner: Identity;
  const ws = (t: TestApp) => t.url.replace('http', 'ws') + '/api/v1/ws';
  const now = () => Math.floor(Date.now() / 1000);

  /** Opens a socket (resolves at hello) and a promise of its close. */
  const open = (t: TestApp, headers: Record<string, string>) =>
    new Promise<{ socket: WebSocket; closed: Promise<Closed> }>((resolve, reject) => {
      const socket = new WebSocket(ws(t), { headers });
      const closed = new Promise<Closed>((done) =>
        socket.once('close', (code, reason) => done({ code, reason: reason.toString() })),
      );
      socket.on('message', (raw: Buffer) => {
        if ((JSON.parse(raw.toString()) as { type: string }).type === 'hello')
          resolve({ socket, closed });
      });
      socket.once('unexpected-response', (_req, res) =>
        reject(new Error(`HTTP ${res.statusCode}`)),
      );
      socket.once('error', reject);
    });
  const bearer = (identity: Identity) => ({ authorization: identity.bearer });

  beforeAll(async () => {
    const longCache = () =>
      createTestApp({
        override: (b) =>
          b.overrideProvider(authConfig.KEY).useValue({ ...authConfig(), sessionCacheMs: 60_000 }),
      });
    [one, two] = await Promise.all([longCache(), longCache()]);
    admin = await platformAdmin(one);
    tenant = await createTenant(one, admin);
    owner = await tenantMember(one, tenant.id, 'tenant_owner');
  });
  afterAll(() => Promise.all([one?.close(), two?.close()]));

  it('a session revoked through another instance', async () => {
    const member = await tenantMember(one, tenant.id, 'user');
    const { closed } = await open(two, bearer(member));
    const other = await tenantMember(one, tenant.id, 'user');
    const untouched = await open(two, bearer(other));
    await request(one.url)
      .delete(`/api/v1/auth/sessions/${member.sessionId}`)
      .set('Authorization', member.bearer)
      .expect(204);
    expect(await closed).toEqual({ code: 4401, reason: 'session ended' });
    expect(untouched.socket.readyState).toBe(WebSocket.OPEN);
    untouched.socket.close();
  });

  it('a logout', async () => {
    const member = await tenantMember(one, tenant.id, 'user');
    const { closed } = await open(two, bearer(member));
    await request(one.url)
      .post('/api/v1/auth/logout')
      .set('Authorization', member.bearer)
      .expect(204);
    expect(await closed).toEqual({ code: 4401, reason: 'session ended' });
  });

  it('a membership removed', async () => {
    const member = await tenantMember(one, tenant.id, 'user');
    const { closed } = await open(two, bearer(member));
    const res = await request(one.url)
      .delete(`/api/v1/tenant/users/${member.userId}`)
      .set('Authorization', owner.bearer);
    expect(res.status).toBe(204);
    expect((await closed).code).toBe(4401);
  });

  it('a role changed: the member’s sockets close, and a new one has the new role', async () => {
    const member = await tenantMember(one, tenant.id, 'tenant_owner');
    const { closed } = await open(two, bearer(member));
    const res = await request(one.url)
      .put(`/api/v1/tenant/users/${member.userId}`)
      .set('Authorization', owner.bearer)
      .send({ role: 'user' });
    expect(res.status).toBe(200);
    expect(await closed).toEqual({ code: 4401, reason: 'role changed' });
    // The same session, admitted again: as a plain member (no owners-only facts for it).
    const again = await open(two, bearer(member));
    const whoami = new Promise<{ type: string }>((resolve) =>
      again.socket.on('message', (raw: Buffer) => resolve(JSON.parse(raw.toString()))),
    );
    again.socket.send(JSON.stringify({ type: 'whoami' }));
    expect((await whoami).type).toBe('whoami');
    expect(
      (await request(two.url).get('/api/v1/tenant/audit').set('Authorization', member.bearer))
        .status,
    ).toBe(403);
    again.socket.close();
  });

  it('an API key revoked: its sockets close, the tenant’s other key stays; the revoked key is refused', async () => {
    const issue = () =>
      request(one.url)
        .post(`/api/v1/tenants/${tenant.id}/api-keys`)
        .set('Authorization', owner.bearer)
        .expect(201);
    const [doomed, kept] = [(await issue()).body, (await issue()).body] as Array<{
      id: string;
      api_key: string;
    }>;
    const a = await open(two, { 'x-api-key': doomed.api_key });
    const b = await open(two, { 'x-api-key': kept.api_key });
    await request(one.url)
      .delete(`/api/v1/tenants/${tenant.id}/api-keys/${doomed.id}`)
      .set('Authorization', owner.bearer)
      .expect(204);
    expect(await a.closed).toEqual({ code: 4401, reason: 'API key revoked' });
    expect(b.socket.readyState).toBe(WebSocket.OPEN);
    await expect(open(one, { 'x-api-key': doomed.api_key })).rejects.toThrow('HTTP 401');
    b.socket.close();
  });

  it('a tenant deleted: every socket of it closes', async () => {
    const doomed = await createTenant(one, admin);
    const survivor = await open(two, { 'x-api-key': tenant.api_key });
    const sockets = await Promise.all([
      open(two, { 'x-api-key': doomed.api_key }),
      open(one, { 'x-api-key': doomed.api_key }),
    ]);
    await request(one.url)
      .delete(`/api/v1/tenants/${doomed.id}`)
      .set('Authorization', admin.bearer)
      .expect(204);
    const codes = (await Promise.all(sockets.map((s) => s.closed))).map((c) => c.code);
    console.log(`tenant deleted: ${sockets.length} sockets closed with ${codes.join(', ')}`);
    expect(codes).toEqual([4401, 4401]);
    expect(survivor.socket.readyState).toBe(WebSocket.OPEN);
    survivor.socket.close();
  });

  it('an access token that expires closes its socket; an expired one is refused at the upgrade', async () => {
    const member = await tenantMember(one, tenant.id, 'user');
    const key = motoKey();
    const header = decodePart(member.token, 0);
    const claims = decodePart(member.token, 1);
    const shortLived = signRs256(header, { ...claims, jti: 'short', exp: now() + 3 }, key);
    // A session for the re-signed token, as login would store it (membershipVersion where the store keeps one).
    const sessions: unknown = one.app.get(SessionStore);
    const store = sessions as {
      create(token: string, exp: number, fields: Record<string, unknown>): Promise<unknown>;
      membershipVersion?: (userId: string) => Promise<string>;
    };
    const version = await store.membershipVersion?.(member.userId);
    await store.create(shortLived, now() + 3, {
      userId: member.userId,
      email: member.email,
      tenantId: tenant.id,
      role: 'user',
      isPlatformAdmin: false,
      memberships: [{ tenantId: tenant.id, role: 'user' }],
      ...(version === undefined ? {} : { membershipVersion: version }),
    });
    const { closed } = await open(two, { authorization: `Bearer ${shortLived}` });
    expect(await closed).toEqual({ code: 4401, reason: 'token expired' });
    await expect(open(two, { authorization: `Bearer ${shortLived}` })).rejects.toThrow('HTTP 401');
  });

  it('refuses at the upgrade with the status: bad key 401, no credentials 401, foreign Origin 403', async () => {
    await expect(open(one, { 'x-api-key': 'tsk_wrong' })).rejects.toThrow('HTTP 401');
    await expect(open(one, {})).rejects.toThrow('HTTP 401');
    await expect(
      open(one, { 'x-api-key': tenant.api_key, origin: 'https://evil.example' }),
    ).rejects.toThrow('HTTP 403');
    const sameOrigin = await open(one, { 'x-api-key': tenant.api_key, origin: one.url });
    sameOrigin.socket.close();
  });
  describe('HTTP: a session the other instance keeps in-process', () => {
    const me = (t: TestApp, who: Identity) =>
      request(t.url).get('/api/v1/auth/me').set('Authorization', who.bearer);
    const held = (t: TestApp, who: Identity) => t.app.get(SessionStore).holds(who.token);
    /** Polls `t` (bounded) until the session is refused; prints how long that took. */
    const refusedOn = async (t: TestApp, who: Identity, what: string, boundMs = 5_000) => {
      const started = Date.now();
      const res = await eventually(
        () => me(t, who),
        (r) => r.status === 401,
        boundMs,
        20,
      );
      console.log(
        `${what}: the other instance answered ${res.status} ${res.body.code} after ${Date.now() - started} ms`,
      );
      return res;
    };
    /** Requests on `t` until it serves the session from its cache (its channel subscribed). */
    const cachedOn = async (t: TestApp, who: Identity) => {
      const cached = await eventually(
        async () => (await me(t, who)).status === 200 && held(t, who),
        (yes) => yes,
        10_000,
        50,
      );
      expect(cached).toBe(true);
    };
    const cachedOnTwo = (who: Identity) => cachedOn(two, who);

    it('a logout on one instance is refused on the other, which had the session cached', async () => {
      const member = await tenantMember(one, tenant.id, 'user');
      const other = await tenantMember(one, tenant.id, 'user');
      await cachedOnTwo(member);
      await cachedOnTwo(other);
      await request(one.url)
        .post('/api/v1/auth/logout')
        .set('Authorization', member.bearer)
        .expect(204);
      const res = await refusedOn(two, member, 'logout');
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('AUTH.SESSION_ENDED');
      expect((await me(two, other)).status).toBe(200);
    });

    it('a session ended by id on one instance is refused on the other', async () => {
      const member = await tenantMember(one, tenant.id, 'user');
      await cachedOnTwo(member);
      await request(one.url)
        .delete(`/api/v1/auth/sessions/${member.sessionId}`)
        .set('Authorization', member.bearer)
        .expect(204);
      expect((await refusedOn(two, member, 'DELETE /auth/sessions/:id')).status).toBe(401);
    });

    it('a membership removed or re-roled on one instance is seen on the other at once', async () => {
      const removed = await tenantMember(one, tenant.id, 'user');
      const promoted = await tenantMember(one, tenant.id, 'user');
      await cachedOnTwo(removed);
      await cachedOnTwo(promoted);
      await request(one.url)
        .put(`/api/v1/tenant/users/${promoted.userId}`)
        .set('Authorization', owner.bearer)
        .send({ role: 'tenant_owner' })
        .expect(200);
      const after = await me(two, promoted);
      console.log(`role changed: the other instance answered role ${after.body.role}`);
      expect(after.body.role).toBe('tenant_owner');
      await request(one.url)
        .delete(`/api/v1/tenant/users/${removed.userId}`)
        .set('Authorization', owner.bearer)
        .expect(204);
      const res = await me(two, removed);
      console.log(`membership removed: the other instance answered ${res.status} ${res.body.code}`);
      expect(res.status).toBe(401);
    });

    describe('with the revocation subscriber of an instance broken', () => {
      const TTL_MS = 2_000;
      let three: TestApp;
      let subscriber: Redis;

      beforeAll(async () => {
        const subscribers: Array<[string, Redis]> = [];
        const real = RedisService.prototype.createSubscriber;
        const spy = jest
          .spyOn(RedisService.prototype, 'createSubscriber')
          .mockImplementation(function (this: RedisService, name: string) {
            const created = real.call(this, name);
            subscribers.push([name, created]);
            return created;
          });
        try {
          three = await createTestApp({
            override: (b) =>
              b
                .overrideProvider(authConfig.KEY)
                .useValue({ ...authConfig(), sessionCacheMs: TTL_MS }),
          });
        } finally {
          spy.mockRestore();
        }
        subscriber = subscribers.find(([name]) => name === 'revocations')![1];
      });
      afterAll(() => three?.close());

      it('drops every cached session when its connection drops: a logout meanwhile is refused at once', async () => {
        const member = await tenantMember(one, tenant.id, 'user');
        await cachedOn(three, member);
        const closed = new Promise((resolve) => subscriber.once('close', resolve));
        subscriber.disconnect(true);
        await closed;
        await request(one.url)
          .post('/api/v1/auth/logout')
          .set('Authorization', member.bearer)
          .expect(204);
        const res = await me(three, member);
        console.log(
          `connection dropped, logout elsewhere: answered ${res.status} ${res.body.code}`,
        );
        expect(res.status).toBe(401);
      });

      it('a revocation it never hears is refused within AUTH_SESSION_CACHE_MS', async () => {
        await eventually(
          () => Promise.resolve(subscriber.status),
          (status) => status === 'ready',
          10_000,
          50,
        );
        const member = await tenantMember(one, tenant.id, 'user');
        // Reconnected and subscribed again: the cache is trusted once more.
        await cachedOn(three, member);
        // Silently deaf: connected, but no longer on the channel.
        await subscriber.unsubscribe();
        const started = Date.now();
        await request(one.url)
          .post('/api/v1/auth/logout')
          .set('Authorization', member.bearer)
          .expect(204);
        const first = await me(three, member);
        const res = await eventually(
          () => me(three, member),
          (r) => r.status === 401,
          TTL_MS + 3_000,
          50,
        );
        console.log(
          `revocation missed (cache ${TTL_MS} ms): first answer ${first.status}, refused after ${Date.now() - started} ms`,
        );
        expect(res.status).toBe(401);
      });
    });
  });
});
