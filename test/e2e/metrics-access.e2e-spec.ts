import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { MetricsServer } from '../../src/shared/metrics';
import { createTestApp, type TestApp } from '../support/app';
import { createTenant, platformAdmin } from '../support/identities';

describe('metrics: a port of its own and a bearer token', () => {
  const token = randomBytes(24).toString('base64url');
  const saved = {
    port: process.env.METRICS_PORT,
    token: process.env.METRICS_TOKEN,
    series: process.env.METRICS_TENANT_SERIES_MAX,
  };
  let t: TestApp;
  let metricsUrl: string;

  beforeAll(async () => {
    process.env.METRICS_PORT = '0'; // a free port, read back from the server
    process.env.METRICS_TOKEN = token;
    // Room for every tenant the test databases hold (queue workers label them all at start).
    process.env.METRICS_TENANT_SERIES_MAX = '10000';
    t = await createTestApp();
    metricsUrl = t.app.get(MetricsServer).url()!;
  });
  afterAll(async () => {
    await t?.close();
    // The metrics port closes with the app.
    if (metricsUrl)
      await expect(request(metricsUrl).get('/metrics')).rejects.toThrow(/ECONNREFUSED/);
    for (const [name, value] of [
      ['METRICS_PORT', saved.port],
      ['METRICS_TOKEN', saved.token],
      ['METRICS_TENANT_SERIES_MAX', saved.series],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it('serves the metrics on their own port to the bearer of the token only', async () => {
    expect(metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(metricsUrl).not.toBe(t.url);
    const none = await request(metricsUrl).get('/metrics');
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="metrics"');
    expect(none.body).toMatchObject({ statusCode: 401, code: 'COMMON.UNAUTHENTICATED' });
    expect(none.text).not.toContain('process_cpu');
    for (const wrong of [`Bearer ${token}x`, `Bearer ${token.slice(1)}`, `Basic ${token}`, token]) {
      expect((await request(metricsUrl).get('/metrics').set('Authorization', wrong)).status).toBe(
        401,
      );
    }
    const right = await request(metricsUrl).get('/metrics').set('Authorization', `Bearer ${token}`);
    expect(right.status).toBe(200);
    expect(right.headers['content-type']).toContain('text/plain');
    expect(right.text).toContain('process_cpu_user_seconds_total');
    expect(right.text).toContain('tessera_feed_facts_dropped_total');
  });

  it('serves nothing else on that port, and no metrics on the main port, token or not', async () => {
    const authorized = { Authorization: `Bearer ${token}` };
    expect((await request(metricsUrl).get('/health/live').set(authorized)).status).toBe(404);
    expect((await request(metricsUrl).post('/metrics').set(authorized)).status).toBe(404);
    const main = await request(t.url).get('/metrics').set(authorized);
    expect(main.status).toBe(404);
    expect(main.body).toMatchObject({ statusCode: 404, code: 'COMMON.NOT_FOUND' });
    expect(main.text).not.toContain('process_cpu');
    expect((await request(t.url).get('/health/live')).status).toBe(200);
  });
  const scrape = async () => {
    const res = await request(metricsUrl).get('/metrics').set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(200);
    return res.text;
  };

  it("shows a tenant's work under its own tenant_id", async () => {
    const admin = await platformAdmin(t);
    const [a, b] = [await createTenant(t, admin), await createTenant(t, admin)];
    for (const [tenant, count] of [
      [a, 3],
      [b, 1],
    ] as const) {
      for (let i = 0; i < count; i++) {
        const res = await request(t.url)
          .post('/api/v1/events')
          .set('X-API-Key', tenant.api_key)
          .send({ event_type: 'metrics.probe' });
        expect(res.status).toBe(201);
      }
    }
    const refused = await request(t.url)
      .post('/api/v1/events')
      .set('X-API-Key', a.api_key)
      .send({ event_type: 'metrics.probe', tenant_id: b.id });
    expect(refused.status).toBe(403);

    const text = await scrape();
    const value = (series: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.slice(series.length + 1));
    };
    const figures = {
      ingestedA: value(`tessera_events_ingested_total{source="api",tenant_id="${a.id}"}`),
      ingestedB: value(`tessera_events_ingested_total{source="api",tenant_id="${b.id}"}`),
      refusedA: value(`tessera_events_rejected_total{reason="foreign_tenant",tenant_id="${a.id}"}`),
      okA: value(`tessera_http_requests_total{tenant_id="${a.id}",status_class="2xx"}`),
      forbiddenA: value(`tessera_http_requests_total{tenant_id="${a.id}",status_class="4xx"}`),
      transactionsA: value(`tessera_events_ingest_seconds_count{tenant_id="${a.id}"}`),
    };
    console.log(`per-tenant figures: ${JSON.stringify(figures)}`);
    expect(figures).toEqual({
      ingestedA: 3,
      ingestedB: 1,
      refusedA: 1,
      okA: expect.any(Number),
      forbiddenA: 1,
      transactionsA: expect.any(Number),
    });
    expect(figures.okA).toBeGreaterThanOrEqual(3);
    expect(figures.transactionsA).toBeGreaterThanOrEqual(1);
    // Every tenant_id value is a tenant, `other` or `none`: never a caller's unchecked input.
    const values = new Set([...text.matchAll(/tenant_id="([^"]*)"/g)].map(([, v]) => v));
    for (const v of values) expect(v).toMatch(/^([0-9a-f-]{36}|other|none)$/);
  });
});
