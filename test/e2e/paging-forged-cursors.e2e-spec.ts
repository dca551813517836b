import request from 'supertest';
import { createTestApp, type TestApp } from '../support/app';
import { type Identity, insertTenant, platformAdmin, tenantMember } from '../support/identities';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

// Each once answered 500 (the decoded parts reached SQL unchecked).
const malformed = [
  b64(['1', 'x']),
  b64(['2026-01-02T03:04:05.678Z', 'not-a-uuid']),
  b64([1, 2]),
  b64({ at: '2026-01-02T03:04:05.678Z' }),
  b64(['2026-01-02T03:04:05.678Z']),
  'not-base64-json',
  // Well-formed, yet PostgreSQL would refuse the instant.
  b64(['0000-01-01T00:00:00Z', '0b6f5b8e-2f7c-4a51-9d8e-4d1f2f6b7a10']),
  b64(['2026-02-30T00:00:00.000001Z', '0b6f5b8e-2f7c-4a51-9d8e-4d1f2f6b7a10']),
  b64(['300000-01-01T00:00:00Z', '0b6f5b8e-2f7c-4a51-9d8e-4d1f2f6b7a10']),
];

describe('malformed list cursors are a 400, never a 500', () => {
  let t: TestApp;
  let admin: Identity;
  let owner: Identity;
  let tenantId: string;

  beforeAll(async () => {
    t = await createTestApp();
    admin = await platformAdmin(t);
    tenantId = await insertTenant();
    await insertTenant();
    owner = await tenantMember(t, tenantId, 'tenant_owner');
    await tenantMember(t, tenantId);
    await tenantMember(t, tenantId);
  });
  afterAll(() => t.close());

  const lists = () => [
    { path: '/api/v1/tenants', who: admin },
    { path: '/api/v1/tenant/users', who: owner },
    { path: `/api/v1/tenants/${tenantId}/users`, who: owner },
  ];
  // The cursor is checked before the tenant's database is reached: this tenant has none.
  const refusingLists = () => [...lists(), { path: '/api/v1/tenant/audit', who: owner }];

  it.each(malformed)(
    'refuses the cursor %s on every list with COMMON.INVALID_CURSOR',
    async (cursor) => {
      for (const { path, who } of refusingLists()) {
        const res = await request(t.url)
          .get(path)
          .query({ cursor })
          .set('Authorization', who.bearer);
        expect({ path, status: res.status, code: res.body.code }).toEqual({
          path,
          status: 400,
          code: 'COMMON.INVALID_CURSOR',
        });
      }
    },
  );

  it('still pages with the cursors it issues', async () => {
    for (const { path, who } of lists()) {
      const first = await request(t.url)
        .get(path)
        .query({ limit: 1 })
        .set('Authorization', who.bearer)
        .expect(200);
      expect(first.body.data).toHaveLength(1);
      expect(typeof first.body.next_cursor).toBe('string');
      const second = await request(t.url)
        .get(path)
        .query({ limit: 1, cursor: first.body.next_cursor })
        .set('Authorization', who.bearer)
        .expect(200);
      expect(second.body.data).toHaveLength(1);
      expect(second.body.data[0]).not.toEqual(first.body.data[0]);
    }
  });
});
