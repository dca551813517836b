import request from 'supertest';
import { createTestApp, type TestApp } from '../support/app';
import { createTenant, type Identity, platformAdmin, tenantMember } from '../support/identities';

describe('/tenant/stats shows a tenant its own figures only', () => {
  let t: TestApp;
  let admin: Identity;
  let a: { id: string; api_key: string };
  let b: { id: string; api_key: string };

  beforeAll(async () => {
    t = await createTestApp();
    admin = await platformAdmin(t);
    a = await createTenant(t, admin);
    b = await createTenant(t, admin);
  });
  afterAll(() => t.close());

  const stats = () => request(t.url).get('/api/v1/tenant/stats');

  it('answers members and API keys their row counts, without the shared database or pool figures', async () => {
    const member = await tenantMember(t, a.id);
    for (const res of [
      await stats().set('Authorization', member.bearer),
      await stats().set('X-API-Key', a.api_key),
    ]) {
      expect(res.status).toBe(200);
      expect(res.body.tenant_id).toBe(a.id);
      expect(res.body.tables.tenant_audit_events).toBeGreaterThanOrEqual(1);
      expect(res.body.database).toBeNull();
      expect(res.body.pool).toBeNull();
      expect(JSON.stringify(res.body)).not.toMatch(/commits|connections|size_bytes|in_use/);
    }
  });

  it('answers platform admins the database and pool figures too', async () => {
    const res = await stats().set('Authorization', admin.bearer).set('X-Tenant-ID', a.id);
    expect(res.status).toBe(200);
    expect(res.body.database).toMatchObject({
      size_bytes: expect.any(Number),
      commits: expect.any(Number),
    });
  });

  it("refuses another tenant's member and key", async () => {
    const other = await tenantMember(t, b.id);
    const asMember = await stats().set('Authorization', other.bearer).set('X-Tenant-ID', a.id);
    expect(asMember.status).toBe(403);
    const asKey = await stats().set('X-API-Key', b.api_key).set('X-Tenant-ID', a.id);
    expect(asKey.status).toBe(403);
  });
});
