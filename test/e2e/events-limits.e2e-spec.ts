import request from 'supertest';
import { createTestApp, type TestApp } from '../support/app';
import { createTenant, type Identity, platformAdmin, tenantMember } from '../support/identities';
import { TcpProxy } from '../support/tcp-proxy';

type Tenant = { id: string; api_key: string };

/** Per-tenant ingestion limits in Redis, shared by two instances; the admin override; Redis down. */
describe('events: rate limits per tenant', () => {
  let one: TestApp;
  let two: TestApp;
  let admin: Identity;
  let limited: Tenant;
  let other: Tenant;

  const limitPath = (id: string) => `/admin/tenants/${id}/event-rate-limit`;
  const post = (t: TestApp, key: string) =>
    request(t.url).post('/api/v1/events').set('X-API-Key', key).send({ event_type: 'rl' });

  beforeAll(async () => {
    [one, two] = await Promise.all([createTestApp(), createTestApp()]);
    admin = await platformAdmin(one);
    limited = await createTenant(one, admin);
    other = await createTenant(one, admin);
  });
  afterAll(() => Promise.all([one?.close(), two?.close()]));

  it('a platform admin sets, reads and clears a tenant override; nobody else can', async () => {
    const owner = await tenantMember(one, limited.id, 'tenant_owner');
    const put = (auth: string, body: object) =>
      request(one.url).put(limitPath(limited.id)).set('Authorization', auth).send(body);
    expect((await put(owner.bearer, { points: 5, window_seconds: 60 })).status).toBe(403);
    expect(
      (await request(one.url).get(limitPath(limited.id)).set('X-API-Key', limited.api_key)).status,
    ).toBe(403);
    expect((await put(admin.bearer, { points: 0, window_seconds: 60 })).status).toBe(400);
    expect(
      (
        await request(one.url)
          .put(limitPath('00000000-0000-4000-8000-000000000000'))
          .set('Authorization', admin.bearer)
          .send({ points: 5, window_seconds: 60 })
      ).status,
    ).toBe(404);
    const set = await put(admin.bearer, { points: 7, window_seconds: 60 });
    expect(set.status).toBe(200);
    expect(set.body).toEqual({ points: 7, window_seconds: 60, origin: 'override' });
    const read = await request(one.url)
      .get(limitPath(limited.id))
      .set('Authorization', admin.bearer);
    expect(read.body).toEqual(set.body);
    expect(
      (
        await request(one.url)
          .get(limitPath('00000000-0000-4000-8000-000000000000'))
          .set('Authorization', admin.bearer)
      ).status,
    ).toBe(404);
    const cleared = await request(one.url)
      .delete(limitPath(limited.id))
      .set('Authorization', admin.bearer);
    expect(cleared.body.origin).toBe('default');
  });

  it('a limit shared by two instances: accepted ≤ limit × 1.05, the rest 429 with Retry-After and X-RateLimit-*', async () => {
    const limit = 50;
    await request(one.url)
      .put(limitPath(limited.id))
      .set('Authorization', admin.bearer)
      .send({ points: limit, window_seconds: 60 })
      .expect(200);
    // Instance two reads overrides through its own cache: the new tenant was never looked up there.
    const results = await Promise.all(
      Array.from({ length: 150 }, (_, i) => post(i % 2 ? two : one, limited.api_key)),
    );
    const accepted = results.filter((r) => r.status === 201);
    const refused = results.filter((r) => r.status === 429);
    console.log(
      `rate limit ${limit}/60 s over two instances: 150 sent, ${accepted.length} accepted, ${refused.length} refused with 429`,
    );
    expect(accepted.length).toBeLessThanOrEqual(limit * 1.05);
    expect(accepted.length).toBeGreaterThanOrEqual(limit * 0.95);
    expect(accepted.length + refused.length).toBe(150);
    expect(Number(refused[0].headers['retry-after'])).toBeGreaterThan(0);
    expect(refused[0].headers['x-ratelimit-limit']).toBe(String(limit));
    expect(refused[0].headers['x-ratelimit-remaining']).toBe('0');
    expect(accepted[0].headers['x-ratelimit-limit']).toBe(String(limit));
    // A batch counts one point per event.
    const batch = await request(two.url)
      .post('/api/v1/events/batch')
      .set('X-API-Key', limited.api_key)
      .send({ events: [{ event_type: 'rl' }] });
    expect(batch.status).toBe(429);
    // Another tenant keeps its own budget.
    expect((await post(one, other.api_key)).status).toBe(201);
  });

  it('Redis down: ingestion answers 503, never unlimited; back when Redis is', async () => {
    const proxy = await TcpProxy.start({ port: 6379 });
    const previous = process.env.REDIS_URL;
    process.env.REDIS_URL = proxy.url('redis');
    let t: TestApp | undefined;
    try {
      t = await createTestApp();
      expect((await post(t, other.api_key)).status).toBe(201);
      proxy.refuse();
      proxy.cut();
      const down = await post(t, other.api_key);
      expect(down.status).toBe(503);
      expect(down.body.code).toBe('EVENTS.RATE_LIMITER_UNAVAILABLE');
      proxy.accept();
      let status = 0;
      for (let i = 0; i < 50 && status !== 201; i++) {
        status = (await post(t, other.api_key)).status;
        if (status !== 201) await new Promise((r) => setTimeout(r, 100));
      }
      expect(status).toBe(201);
    } finally {
      if (previous === undefined) delete process.env.REDIS_URL;
      else process.env.REDIS_URL = previous;
      await t?.close();
      await proxy.close();
    }
  });
});
