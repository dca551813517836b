import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { FastifyInstance } from 'fastify';
import { API_SECURITY_HEADERS, registerSecurityHeaders } from './security-headers';

/** Headers a browser needs on a rendered page and an API answer does not. */
const PAGE_ONLY = [
  'content-security-policy',
  'cross-origin-opener-policy',
  'origin-agent-cluster',
  'referrer-policy',
  'x-dns-prefetch-control',
  'x-download-options',
  'x-permitted-cross-domain-policies',
  'x-xss-protection',
];

describe('registerSecurityHeaders', () => {
  let fastify: FastifyInstance;

  beforeAll(async () => {
    fastify = new FastifyAdapter().getInstance<FastifyInstance>();
    registerSecurityHeaders(fastify);
    for (const path of [
      '/api/v1/things',
      '/dashboard',
      '/dashboard/assets/:file',
      '/docs',
      '/docs-json',
    ])
      fastify.get(path, () => ({ ok: true }));
    await fastify.ready();
  });
  afterAll(() => fastify.close());

  const get = (url: string) => fastify.inject({ method: 'GET', url });

  it('gives API answers (and unknown routes) the constant set, none of the page-only headers', async () => {
    for (const url of ['/api/v1/things', '/docs-json', '/nowhere', '/dashboards']) {
      const res = await get(url);
      for (const [name, value] of Object.entries(API_SECURITY_HEADERS))
        expect([url, name, res.headers[name]]).toEqual([url, name, value]);
      for (const name of PAGE_ONLY)
        expect([url, name, res.headers[name]]).toEqual([url, name, undefined]);
    }
  });

  it("gives the dashboard helmet's full set with the strict CSP", async () => {
    for (const url of ['/dashboard', '/dashboard/assets/main.js']) {
      const res = await get(url);
      for (const name of PAGE_ONLY) expect(res.headers[name]).toBeDefined();
      const csp = String(res.headers['content-security-policy']);
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("style-src 'self';");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-inline');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['strict-transport-security']).toBe(
        API_SECURITY_HEADERS['strict-transport-security'],
      );
    }
  });

  it("lets /docs alone use inline styles (Swagger UI's template)", async () => {
    const csp = String((await get('/docs')).headers['content-security-policy']);
    expect(csp).toContain("style-src 'self' 'unsafe-inline'");
    expect(csp).toContain("script-src 'self';");
  });
});
