import request from 'supertest';
import { tenancyConfig } from '../../src/config';
import { createTestApp, type TestApp } from '../support/app';
import { createTenant, type Identity, platformAdmin } from '../support/identities';

const WORKERS = 8;
const CLEARS = 30;

describe('clearing the secret cache under load', () => {
  let t: TestApp;
  let admin: Identity;
  let tenants: Array<{ id: string; api_key: string }>;

  beforeAll(async () => {
    // A generous read timeout: on a loaded machine a slow read must not be mistaken for an abort.
    const tenancy = tenancyConfig();
    t = await createTestApp({
      override: (b) =>
        b.overrideProvider(tenancyConfig.KEY).useValue({
          ...tenancy,
          secretCache: { ...tenancy.secretCache, fetchTimeoutMs: 20_000 },
        }),
    });
    admin = await platformAdmin(t);
    tenants = [
      await createTenant(t, admin),
      await createTenant(t, admin),
      await createTenant(t, admin),
    ];
  });
  afterAll(() => t.close());

  it('fails no in-flight lookup: 0 errors while the cache is cleared again and again', async () => {
    const statuses = new Map<number, number>();
    const wrong: string[] = [];
    let running = true;
    const worker = async (n: number) => {
      for (let i = n; running; i++) {
        const tenant = tenants[i % tenants.length];
        const res = await request(t.url)
          .get('/api/v1/tenant/stats')
          .set('X-API-Key', tenant.api_key);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status === 200 && res.body.tenant_id !== tenant.id) wrong.push(res.body.tenant_id);
      }
    };
    const load = Promise.all(Array.from({ length: WORKERS }, (_, n) => worker(n)));
    let cleared = 0;
    try {
      for (; cleared < CLEARS; cleared++) {
        await request(t.url)
          .post('/admin/cache/clear')
          .set('Authorization', admin.bearer)
          .expect(204);
        // Let some lookups start their Secrets Manager read before the next clear.
        await request(t.url).get('/api/v1/tenant/stats').set('X-API-Key', tenants[0].api_key);
      }
    } finally {
      running = false;
      await load;
    }
    const counts = Object.fromEntries(statuses);
    console.log(`${cleared} clears under load: answers by status`, counts);
    expect(Object.keys(counts)).toEqual(['200']);
    expect(counts[200]).toBeGreaterThan(CLEARS);
    expect(wrong).toEqual([]);
  }, 180_000);
});
