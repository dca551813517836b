import request from 'supertest';
import { ApiKeysService, TenancyModule, TenantsService } from '../../src/modules/tenancy';
import { createTestApp, type TestApp } from '../support/app';
import { createTenant, type Identity, platformAdmin, tenantMember } from '../support/identities';
import { uniqueName } from '../support/tenancy';

/** Every tenancy route, with real Cognito identities: a tenant's owner never reaches another tenant. */
describe('Tenancy routes: who may call what', () => {
  let t: TestApp;
  let admin: Identity;
  let ownerA: Identity;
  let userA: Identity;
  let ownerB: Identity;
  let a: { id: string; api_key: string; [key: string]: unknown };
  let b: { id: string; api_key: string; [key: string]: unknown };

  beforeAll(async () => {
    t = await createTestApp({ extra: { imports: [TenancyModule] } });
    admin = await platformAdmin(t);
    a = await createTenant(t, admin, { name: uniqueName('access-a') });
    b = await createTenant(t, admin, { name: uniqueName('access-b') });
    ownerA = await tenantMember(t, a.id, 'tenant_owner');
    userA = await tenantMember(t, a.id, 'user');
    ownerB = await tenantMember(t, b.id, 'tenant_owner');
  });
  afterAll(() => t.close());

  const call = (
    method: 'get' | 'post' | 'put' | 'delete',
    path: string,
    who: Identity,
    body?: object,
  ) => {
    const req = request(t.url)[method](path).set('Authorization', who.bearer);
    return body ? req.send(body) : req;
  };

  it("refuses every route of tenant B to tenant A's owner (404 or 403), reads and writes alike", async () => {
    const keyOfB = await call('post', `/api/v1/tenants/${b.id}/api-keys`, ownerB);
    expect(keyOfB.status).toBe(201);
    const attempts: Array<[string, Promise<request.Response>]> = [
      ['GET tenant', call('get', `/api/v1/tenants/${b.id}`, ownerA)],
      [
        'PUT tenant',
        call('put', `/api/v1/tenants/${b.id}`, ownerA, { name: uniqueName('hijack') }),
      ],
      ['DELETE tenant', call('delete', `/api/v1/tenants/${b.id}`, ownerA)],
      ['POST api-key', call('post', `/api/v1/tenants/${b.id}/api-keys`, ownerA)],
      [
        'DELETE api-key',
        call('delete', `/api/v1/tenants/${b.id}/api-keys/${keyOfB.body.id}`, ownerA),
      ],
      ['POST tenants', call('post', '/api/v1/tenants', ownerA, { name: uniqueName('sneaky') })],
      ['GET tenants', call('get', '/api/v1/tenants', ownerA)],
      ['health tenants', call('get', '/health/tenants', ownerA)],
      ['health tenant', call('get', `/health/tenant/${b.id}`, ownerA)],
      ['health cache', call('get', '/health/cache', ownerA)],
      ['cache clear', call('post', '/admin/cache/clear', ownerA)],
      ['info as B', call('get', '/api/v1/tenant/info', ownerA).set('X-Tenant-ID', b.id)],
      ['stats as B', call('get', '/api/v1/tenant/stats', ownerA).set('X-Tenant-ID', b.id)],
    ];
    for (const [label, pending] of attempts) {
      const res = await pending;
      expect({ label, refused: [403, 404].includes(res.status) }).toEqual({ label, refused: true });
      expect(JSON.stringify(res.body)).not.toContain(b.name as string);
    }

    // Nothing of B changed.
    const tenantB = await t.app.get(TenantsService).findById(b.id);
    expect(tenantB).toMatchObject({ name: b.name, status: 'active' });
    const keys = t.app.get(ApiKeysService);
    expect(await keys.resolve(b.api_key)).toMatchObject({ tenantId: b.id });
    expect(await keys.resolve(keyOfB.body.api_key as string)).toMatchObject({ tenantId: b.id });
  });

  it("lets A's owner and members work on A only, each within their role", async () => {
    expect((await call('get', `/api/v1/tenants/${a.id}`, userA)).status).toBe(200);
    expect(
      (await call('put', `/api/v1/tenants/${a.id}`, userA, { allow_self_signup: true })).status,
    ).toBe(403);
    expect((await call('post', `/api/v1/tenants/${a.id}/api-keys`, userA)).status).toBe(403);
    const info = await call('get', '/api/v1/tenant/info', userA);
    expect(info.status).toBe(200);
    expect(info.body.tenant_id).toBe(a.id);
    const stats = await call('get', '/api/v1/tenant/stats', userA);
    expect(stats.status).toBe(200);
    expect(stats.body.tenant_id).toBe(a.id);

    const put = await call('put', `/api/v1/tenants/${a.id}`, ownerA, { allow_self_signup: true });
    expect(put.status).toBe(200);
    const key = await call('post', `/api/v1/tenants/${a.id}/api-keys`, ownerA);
    expect(key.status).toBe(201);
    expect(
      (await call('delete', `/api/v1/tenants/${a.id}/api-keys/${key.body.id}`, ownerA)).status,
    ).toBe(204);
    expect((await call('delete', `/api/v1/tenants/${a.id}`, ownerA)).status).toBe(403);
  });

  it('gives the platform admin every route, with health that never shows credentials', async () => {
    expect((await call('get', `/api/v1/tenants/${b.id}`, admin)).status).toBe(200);
    const list = await call('get', '/api/v1/tenants?limit=100', admin);
    expect(list.status).toBe(200);
    const health = await call('get', `/health/tenant/${a.id}`, admin);
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({
      tenant_id: a.id,
      healthy: true,
      pool: { database: expect.any(String) },
    });
    const all = await call('get', '/health/tenants', admin);
    expect(all.status).toBe(200);
    expect(all.body.summary.total).toBeGreaterThanOrEqual(2);
    expect(JSON.stringify(all.body)).not.toMatch(/password/i);
    const info = await call('get', '/api/v1/tenant/info', admin).set('X-Tenant-ID', b.id);
    expect(info.status).toBe(200);
    expect(info.body.tenant_id).toBe(b.id);
    expect((await call('get', '/health/tenant/not-a-uuid', admin)).status).toBe(400);
  });
});
