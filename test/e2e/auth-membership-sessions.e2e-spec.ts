import request from 'supertest';
import { MembershipsService } from '../../src/modules/auth';
import { redisConfig } from '../../src/config';
import { createTestApp, type TestApp } from '../support/app';
import { type Identity, insertTenant, login, PASSWORD, tenantMember } from '../support/identities';
import { eventually } from '../support/services';
import { TcpProxy } from '../support/tcp-proxy';

describe('membership changes never leave a session with the old role', () => {
  let proxy: TcpProxy;
  let t: TestApp;
  let memberships: MembershipsService;
  let tenantId: string;
  let otherTenant: string;
  let owner: Identity;

  beforeAll(async () => {
    const real = new URL(redisConfig().url);
    proxy = await TcpProxy.start({ host: real.hostname, port: Number(real.port || 6379) });
    const url = new URL(real.toString());
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    t = await createTestApp({
      override: (b) =>
        b.overrideProvider(redisConfig.KEY).useValue({ ...redisConfig(), url: url.toString() }),
    });
    memberships = t.app.get(MembershipsService);
    tenantId = await insertTenant();
    otherTenant = await insertTenant();
    owner = await tenantMember(t, tenantId, 'tenant_owner');
  });
  afterAll(async () => {
    jest.restoreAllMocks();
    proxy.accept();
    await t.close();
    await proxy.close();
  });

  const me = (who: { bearer: string }) =>
    request(t.url).get('/api/v1/auth/me').set('Authorization', who.bearer);

  /** The next membership read of `userId` (a login's) is held, with its real rows, until released. */
  const holdNextRead = (userId: string) => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let reached!: () => void;
    const reachedRead = new Promise<void>((r) => (reached = r));
    const real = memberships.membershipsOf.bind(memberships);
    const spy = jest.spyOn(memberships, 'membershipsOf').mockImplementation(async (id) => {
      const rows = await real(id);
      if (id === userId) {
        spy.mockRestore();
        reached();
        await released;
      }
      return rows;
    });
    return { reachedRead, release };
  };

  it('ends a session whose login read the membership just before it was removed', async () => {
    const user = await tenantMember(t, tenantId);
    const held = holdNextRead(user.userId);
    const loggingIn = request(t.url)
      .post('/api/v1/auth/login')
      .send({ email: user.email, password: PASSWORD, tenant_id: tenantId })
      .then((res) => res);
    await held.reachedRead;
    await request(t.url)
      .delete(`/api/v1/tenants/${tenantId}/users/${user.userId}`)
      .set('Authorization', owner.bearer)
      .expect(204);
    held.release();
    const late = await loggingIn;
    expect(late.status).toBe(200);
    const res = await me({ bearer: `Bearer ${late.body.access_token}` });
    console.log('session written with the old membership answers', res.status, res.body.code);
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('AUTH.SESSION_ENDED');
  });

  it('gives a session whose login read the old role the new one on first use', async () => {
    const user = await tenantMember(t, tenantId);
    const held = holdNextRead(user.userId);
    const loggingIn = request(t.url)
      .post('/api/v1/auth/login')
      .send({ email: user.email, password: PASSWORD, tenant_id: tenantId })
      .then((res) => res);
    await held.reachedRead;
    await request(t.url)
      .put(`/api/v1/tenants/${tenantId}/users/${user.userId}`)
      .set('Authorization', owner.bearer)
      .send({ role: 'tenant_owner' })
      .expect(200);
    held.release();
    const late = await loggingIn;
    expect(late.status).toBe(200);
    expect(late.body.user.role).toBe('user');
    const res = await me({ bearer: `Bearer ${late.body.access_token}` });
    expect(res.status).toBe(200);
    expect(res.body.role).toBe('tenant_owner');
    expect(res.body.memberships).toEqual([{ tenant_id: tenantId, role: 'tenant_owner' }]);
  });

  it('finishes a removal whose session ending failed after the commit when it is retried (204, sessions ended)', async () => {
    const user = await tenantMember(t, tenantId);
    const elsewhere = await login(t, user.email, PASSWORD, { tenant_id: tenantId });
    const real = memberships.remove.bind(memberships);
    // Redis stops answering right after the removal commits.
    const spy = jest.spyOn(memberships, 'remove').mockImplementation(async (...args) => {
      await real(...args);
      proxy.refuse();
      proxy.cut();
    });
    let first;
    try {
      first = await request(t.url)
        .delete(`/api/v1/tenants/${tenantId}/users/${user.userId}`)
        .set('Authorization', owner.bearer);
    } finally {
      spy.mockRestore();
      proxy.accept();
    }
    expect(first.status).toBe(503);
    // Redis is back once the owner's own session answers again.
    await eventually(
      () => me(owner),
      (res) => res.status === 200,
      20_000,
    );
    const retry = await request(t.url)
      .delete(`/api/v1/tenants/${tenantId}/users/${user.userId}`)
      .set('Authorization', owner.bearer);
    console.log('removal: first', first.status, 'retry', retry.status);
    expect(retry.status).toBe(204);
    for (const session of [user, elsewhere]) expect((await me(session)).status).toBe(401);
    // Once done, a further DELETE is the plain 404.
    const again = await request(t.url)
      .delete(`/api/v1/tenants/${tenantId}/users/${user.userId}`)
      .set('Authorization', owner.bearer);
    expect(again.status).toBe(404);
  });

  it("cannot remove another tenant's user", async () => {
    const stranger = await tenantMember(t, otherTenant);
    const res = await request(t.url)
      .delete(`/api/v1/tenants/${otherTenant}/users/${stranger.userId}`)
      .set('Authorization', owner.bearer);
    expect(res.status).toBe(403);
    expect((await me(stranger)).status).toBe(200);
  });
});
