import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { register } from 'prom-client';
import request from 'supertest';
import { MetricsServer } from '../../src/shared/metrics';
import { createTestApp, type TestApp } from '../support/app';
import { createTenant, platformAdmin } from '../support/identities';

const PROMQL_WORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
]);

/** The metrics and labels one PromQL expression names (functions, keywords and variables left out). */
function namesIn(expr: string): { metrics: string[]; labels: string[] } {
  const labels: string[] = [];
  for (const [, inside] of expr.matchAll(/\{([^}]*)\}/g))
    for (const [, label] of inside.matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)) labels.push(label);
  for (const [, list] of expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g))
    labels.push(
      ...list
        .split(',')
        .map((l) => l.trim())
        .filter(Boolean),
    );
  const bare = expr
    .replace(/"[^"]*"/g, '')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(?:by|without)\s*\([^)]*\)/g, '')
    .replace(/\$\w+/g, '');
  // Whole words only (\b on both sides): a function's name is not cut short into a metric.
  const metrics = [...bare.matchAll(/\b[a-zA-Z_:][\w:]*\b(?!\s*\()/g)]
    .map(([name]) => name)
    .filter((name) => !PROMQL_WORDS.has(name.toLowerCase()) && !/^\d/.test(name));
  return { metrics, labels };
}

/**
 * /metrics names every tenant and queue: with METRICS_PORT it is served on that port only, and
 * with METRICS_TOKEN only to the bearer of the token (the rules without either: metrics-access.spec.ts).
 */
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

  it('has a Grafana dashboard whose every query names only metrics and labels the app registers', async () => {
    const dashboard = JSON.parse(
      readFileSync(join(__dirname, '../../deploy/grafana/tessera.json'), 'utf8'),
    ) as {
      panels: Array<{ type: string; title: string; targets?: Array<{ expr: string }> }>;
      templating: { list: Array<{ query?: unknown }> };
    };
    const exprs: Array<[string, string]> = [];
    for (const panel of dashboard.panels)
      for (const target of panel.targets ?? []) exprs.push([panel.title, target.expr]);
    for (const variable of dashboard.templating.list) {
      const query = (variable.query as { query?: string } | undefined)?.query;
      const m = /^label_values\((\w+),\s*(\w+)\)$/.exec(query ?? '');
      if (m) exprs.push([`variable ${m[2]}`, `sum by (${m[2]}) (${m[1]})`]);
    }
    // Metrics are registered when their modules load: every one is in the registry at start.
    const registered = new Map(
      register
        .getMetricsAsArray()
        .map((metric) => [
          metric.name,
          (metric as unknown as { labelNames: string[] }).labelNames ?? [],
        ]),
    );
    const base = (name: string) =>
      registered.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
    const problems: string[] = [];
    const used = new Set<string>();
    for (const [title, expr] of exprs) {
      const { metrics, labels } = namesIn(expr);
      if (!metrics.length) problems.push(`${title}: no metric in ${expr}`);
      const known = new Set<string>(['le']);
      for (const metric of metrics) {
        const name = base(metric);
        used.add(name);
        if (!registered.has(name)) problems.push(`${title}: ${metric} is not exported`);
        for (const label of registered.get(name) ?? []) known.add(label);
      }
      for (const label of labels)
        if (!known.has(label)) problems.push(`${title}: no metric of it has the label ${label}`);
    }
    const panels = dashboard.panels.filter((p) => p.type !== 'row').length;
    console.log(
      `dashboard: ${panels} panels, ${exprs.length} queries, ${used.size} metrics, ${problems.length} problems`,
    );
    expect(problems).toEqual([]);
    expect(used.size).toBeGreaterThan(30);
    // And the scrape has them all (a registered metric is exported, with or without samples yet).
    const text = await scrape();
    for (const name of used) expect(text).toContain(`# TYPE ${name} `);
  });
});
