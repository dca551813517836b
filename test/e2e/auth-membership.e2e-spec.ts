import request from 'supertest';
import { createTestApp, type TestApp } from '../support/app';
import {
  createTenant,
  type Identity,
  insertTenant,
  login,
  PASSWORD,
  platformAdmin,
  tenantMember,
  uniqueEmail,
  addMembership,
} from '../support/identities';

describe('Auth: roles, memberships and tenant users', () => {
  let t: TestApp;
  let tenantA: string;
  let tenantB: string;
  let ownerA: Identity;
  let ownerB: Identity;

  const me = (who: Pick<Identity, 'bearer'>, tenant?: string) => {
    const req = request(t.url).get('/api/v1/auth/me').set('Authorization', who.bearer);
    return tenant ? req.set('X-Tenant-ID', tenant) : req;
  };

  beforeAll(async () => {
    t = await createTestApp();
    tenantA = await insertTenant({ allowSelfSignup: true });
    tenantB = await insertTenant({ allowSelfSignup: false });
    ownerA = await tenantMember(t, tenantA, 'tenant_owner');
    ownerB = await tenantMember(t, tenantB, 'tenant_owner');
  });
  afterAll(() => t.close());

  describe('self sign-up', () => {
    it('refuses registering as tenant_owner', async () => {
      const res = await request(t.url)
        .post('/api/v1/auth/register')
        .send({
          email: uniqueEmail('greedy'),
          password: PASSWORD,
          tenant_id: tenantA,
          role: 'tenant_owner',
        });
      expect(res.status).toBe(403);
    });

    it('refuses sign-up into a closed tenant (403) and an unknown one (404)', async () => {
      const closed = await request(t.url)
        .post('/api/v1/auth/register')
        .send({ email: uniqueEmail('closed'), password: PASSWORD, tenant_id: tenantB });
      expect(closed.status).toBe(403);
      expect(closed.body.code).toBe('AUTH.SIGNUP_CLOSED');
      const unknown = await request(t.url)
        .post('/api/v1/auth/register')
        .send({
          email: uniqueEmail('nowhere'),
          password: PASSWORD,
          tenant_id: '00000000-0000-4000-8000-000000000000',
        });
      expect(unknown.status).toBe(404);
    });

    it('lets an existing account join another open tenant only with its password', async () => {
      const openC = await insertTenant({ allowSelfSignup: true });
      const wrong = await request(t.url)
        .post('/api/v1/auth/register')
        .send({ email: ownerB.email, password: 'wrong-password', tenant_id: openC });
      expect(wrong.status).toBe(401);
      const joined = await request(t.url)
        .post('/api/v1/auth/register')
        .send({ email: ownerB.email, password: PASSWORD, tenant_id: openC });
      expect(joined.status).toBe(201);
      expect(joined.body).toMatchObject({ user_id: ownerB.userId, tenant_id: openC, role: 'user' });
    });
  });

  describe('choosing a tenant', () => {
    it('switches among own memberships at login and per request, and nowhere else', async () => {
      const user = await tenantMember(t, tenantA, 'user');
      await addMembership(tenantB, user.userId, user.email, 'tenant_owner');

      expect((await me(user)).body).toMatchObject({ tenant_id: tenantA, role: 'user' });
      expect((await me(user, tenantB)).body).toMatchObject({
        tenant_id: tenantB,
        role: 'tenant_owner',
      });

      const inB = await login(t, user.email, PASSWORD, { tenant_id: tenantB });
      expect(inB.body.user).toMatchObject({ tenant_id: tenantB, role: 'tenant_owner' });

      const stranger = await insertTenant();
      const foreign = await me(user, stranger);
      expect(foreign.status).toBe(403);
      expect(foreign.body.code).toBe('AUTH.NOT_A_MEMBER');
      const loginForeign = await request(t.url)
        .post('/api/v1/auth/login')
        .send({ email: user.email, password: PASSWORD, tenant_id: stranger });
      expect(loginForeign.status).toBe(403);
      expect((await me(user, 'not-a-uuid')).status).toBe(400);
    });

    it('lets a platform admin pick any tenant, and only existing ones', async () => {
      const admin = await platformAdmin(t);
      expect((await me(admin)).body).toMatchObject({ is_admin: true, tenant_id: null });
      expect((await me(admin, tenantB)).body).toMatchObject({ is_admin: true, tenant_id: tenantB });
      expect((await me(admin, '00000000-0000-4000-8000-000000000000')).status).toBe(404);

      const users = await request(t.url)
        .get(`/api/v1/tenants/${tenantB}/users`)
        .set('Authorization', admin.bearer);
      expect(users.status).toBe(200);
      const current = await request(t.url)
        .get('/api/v1/tenant/users')
        .set('Authorization', admin.bearer);
      expect(current.status).toBe(400);
      const chosen = await request(t.url)
        .get('/api/v1/tenant/users')
        .set('Authorization', admin.bearer)
        .set('X-Tenant-ID', tenantB);
      expect(chosen.status).toBe(200);
    });
  });

  describe('owners manage users', () => {
    it('an owner of A cannot list or add users of B', async () => {
      const add = await request(t.url)
        .post(`/api/v1/tenants/${tenantB}/users`)
        .set('Authorization', ownerA.bearer)
        .send({ email: uniqueEmail('intruder'), role: 'user' });
      expect(add.status).toBe(403);
      const addChosen = await request(t.url)
        .post(`/api/v1/tenants/${tenantB}/users`)
        .set('Authorization', ownerA.bearer)
        .set('X-Tenant-ID', tenantB)
        .send({ email: uniqueEmail('intruder'), role: 'user' });
      expect(addChosen.status).toBe(403);
      const list = await request(t.url)
        .get(`/api/v1/tenants/${tenantB}/users`)
        .set('Authorization', ownerA.bearer);
      expect(list.status).toBe(403);
      const change = await request(t.url)
        .put(`/api/v1/tenants/${tenantB}/users/${ownerB.userId}`)
        .set('Authorization', ownerA.bearer)
        .send({ role: 'user' });
      expect(change.status).toBe(403);
      const remove = await request(t.url)
        .delete(`/api/v1/tenants/${tenantB}/users/${ownerB.userId}`)
        .set('Authorization', ownerA.bearer);
      expect(remove.status).toBe(403);
    });

    it('a plain user cannot manage users', async () => {
      const user = await tenantMember(t, tenantA, 'user');
      const res = await request(t.url)
        .get(`/api/v1/tenants/${tenantA}/users`)
        .set('Authorization', user.bearer);
      expect(res.status).toBe(403);
      expect(
        (await request(t.url).get('/api/v1/tenant/users').set('Authorization', user.bearer)).status,
      ).toBe(403);
    });

    it('adds a user with a temporary password, who sets their own at first login', async () => {
      const email = uniqueEmail('invited');
      const added = await request(t.url)
        .post(`/api/v1/tenants/${tenantA}/users`)
        .set('Authorization', ownerA.bearer)
        .send({ email, role: 'user', temporary_password: 'Temp0rary!pass' });
      expect(added.status).toBe(201);
      expect(added.body).toMatchObject({ email, role: 'user', last_login_at: null });

      const first = await request(t.url)
        .post('/api/v1/auth/login')
        .send({ email, password: 'Temp0rary!pass' });
      expect(first.status).toBe(403);
      expect(first.body.code).toBe('AUTH.PASSWORD_CHANGE_REQUIRED');
      const changed = await request(t.url)
        .post('/api/v1/auth/login')
        .send({ email, password: 'Temp0rary!pass', new_password: PASSWORD });
      expect(changed.status).toBe(200);
      expect(changed.body.user).toMatchObject({ tenant_id: tenantA, role: 'user' });

      const again = await request(t.url)
        .post(`/api/v1/tenants/${tenantA}/users`)
        .set('Authorization', ownerA.bearer)
        .send({ email, role: 'user' });
      expect(again.status).toBe(409);
    });

    it('changes a role with effect on open sessions, and keeps one owner', async () => {
      const user = await tenantMember(t, tenantA, 'user');
      const promoted = await request(t.url)
        .put(`/api/v1/tenant/users/${user.userId}`)
        .set('Authorization', ownerA.bearer)
        .send({ role: 'tenant_owner' });
      expect(promoted.status).toBe(200);
      expect((await me(user)).body.role).toBe('tenant_owner');
      expect(
        (await request(t.url).get('/api/v1/tenant/users').set('Authorization', user.bearer)).status,
      ).toBe(200);

      const soleTenant = await insertTenant();
      const sole = await tenantMember(t, soleTenant, 'tenant_owner');
      const demote = await request(t.url)
        .put(`/api/v1/tenant/users/${sole.userId}`)
        .set('Authorization', sole.bearer)
        .send({ role: 'user' });
      expect(demote.status).toBe(409);
      const leave = await request(t.url)
        .delete(`/api/v1/tenant/users/${sole.userId}`)
        .set('Authorization', sole.bearer);
      expect(leave.status).toBe(409);
      const badRole = await request(t.url)
        .put(`/api/v1/tenant/users/${sole.userId}`)
        .set('Authorization', sole.bearer)
        .send({ role: 'god' });
      expect(badRole.status).toBe(400);
    });

    it('removes a user and ends their sessions in that tenant only', async () => {
      const user = await tenantMember(t, tenantA, 'user');
      await addMembership(tenantB, user.userId, user.email, 'user');
      const inB = await login(t, user.email, PASSWORD, { tenant_id: tenantB });

      const one = await request(t.url)
        .get(`/api/v1/tenant/users/${user.userId}`)
        .set('Authorization', ownerA.bearer);
      expect(one.body).toMatchObject({ user_id: user.userId, role: 'user' });
      await request(t.url)
        .delete(`/api/v1/tenants/${tenantA}/users/${user.userId}`)
        .set('Authorization', ownerA.bearer)
        .expect(204);

      expect((await me(user)).status).toBe(401);
      const stillInB = await me(inB);
      expect(stillInB.status).toBe(200);
      // Open sessions learn of the change (GET /auth/me reads memberships from the session).
      expect(stillInB.body.memberships).toEqual([{ tenant_id: tenantB, role: 'user' }]);
      expect((await me(inB, tenantA)).status).toBe(403);
      expect(
        (
          await request(t.url)
            .get(`/api/v1/tenant/users/${user.userId}`)
            .set('Authorization', ownerA.bearer)
        ).status,
      ).toBe(404);
    });

    it('pages the users with a stable cursor', async () => {
      const tenant = await insertTenant();
      const owner = await tenantMember(t, tenant, 'tenant_owner');
      await tenantMember(t, tenant, 'user');
      await tenantMember(t, tenant, 'user');
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res: request.Response = await request(t.url)
          .get('/api/v1/tenant/users')
          .query(cursor ? { limit: 1, cursor } : { limit: 1 })
          .set('Authorization', owner.bearer);
        expect(res.status).toBe(200);
        seen.push(...(res.body.data as { user_id: string }[]).map((u) => u.user_id));
        cursor = res.body.next_cursor as string | null;
      } while (cursor);
      expect(seen).toHaveLength(3);
      expect(new Set(seen).size).toBe(3);
      expect(
        (
          await request(t.url)
            .get('/api/v1/tenant/users?cursor=garbage')
            .set('Authorization', owner.bearer)
        ).status,
      ).toBe(400);
    });
  });

  describe('with a provisioned tenant', () => {
    it('authenticates an API key as its tenant, and ends sessions when the tenant is deleted', async () => {
      const admin = await platformAdmin(t);
      const tenant = await createTenant(t, admin);
      const member = await tenantMember(t, tenant.id, 'user');

      const viaKey = await request(t.url).get('/api/v1/context').set('X-API-Key', tenant.api_key);
      expect(viaKey.status).toBe(200);
      expect(viaKey.body).toMatchObject({ tenant_id: tenant.id, via: 'api_key' });
      expect(
        (await request(t.url).get('/api/v1/context').set('X-API-Key', 'tsk_nope')).status,
      ).toBe(401);
      expect(
        (await request(t.url).get('/api/v1/auth/me').set('X-API-Key', tenant.api_key)).status,
      ).toBe(403);
      const otherTenant = await request(t.url)
        .get('/api/v1/context')
        .set('X-API-Key', tenant.api_key)
        .set('X-Tenant-ID', tenantA);
      expect(otherTenant.status).toBe(403);

      expect((await me(member)).status).toBe(200);
      await request(t.url)
        .delete(`/api/v1/tenants/${tenant.id}`)
        .set('Authorization', admin.bearer)
        .expect(204);
      expect((await me(member)).status).toBe(401);
      const relogin = await request(t.url)
        .post('/api/v1/auth/login')
        .send({ email: member.email, password: PASSWORD });
      expect(relogin.status).toBe(403);
    });
  });
});
