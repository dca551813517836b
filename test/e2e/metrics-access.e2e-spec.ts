import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { MetricsServer } from '../../src/shared/metrics';
import { createTestApp, type TestApp } from '../support/app';

/**
 * /metrics names every tenant and queue: with METRICS_PORT it is served on that port only, and
 * with METRICS_TOKEN only to the bearer of the token (the rules without either: metrics-access.spec.ts).
 */
describe('metrics: a port of its own and a bearer token', () => {
  const token = randomBytes(24).toString('base64url');
  const saved = { port: process.env.METRICS_PORT, token: process.env.METRICS_TOKEN };
  let t: TestApp;
  let metricsUrl: string;

  beforeAll(async () => {
    process.env.METRICS_PORT = '0'; // a free port, read back from the server
    process.env.METRICS_TOKEN = token;
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
});
