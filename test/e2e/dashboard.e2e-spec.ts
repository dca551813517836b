import { rmSync } from 'node:fs';
import request from 'supertest';
import { DASHBOARD_ASSETS_DIR } from '../../src/modules/dashboard';
import { createTestApp, type TestApp } from '../support/app';
import {
  buildDashboardForTests,
  inPage,
  launchBrowser,
  screenshot,
  storedToken,
  type TestBrowser,
} from '../support/browser';
import {
  addMembership,
  createCognitoUser,
  createTenant,
  type Identity,
  PASSWORD,
  platformAdmin,
  tenantMember,
  uniqueEmail,
} from '../support/identities';

/** The dashboard page in a real browser: serving, CSP, sign-in, tenant choice, sign-out. */
describe('dashboard: page, sign-in and sign-out (headless Chromium)', () => {
  let t: TestApp;
  let browser: TestBrowser;
  let assetsDir: string;
  let tenantA: { id: string; api_key: string; name: string };
  let tenantB: { id: string; api_key: string; name: string };
  let ownerA: Identity;

  beforeAll(async () => {
    assetsDir = buildDashboardForTests();
    t = await createTestApp({
      override: (builder) => builder.overrideProvider(DASHBOARD_ASSETS_DIR).useValue(assetsDir),
    });
    browser = await launchBrowser();
    const admin = await platformAdmin(t);
    tenantA = (await createTenant(t, admin)) as typeof tenantA;
    tenantB = (await createTenant(t, admin)) as typeof tenantB;
    ownerA = await tenantMember(t, tenantA.id, 'tenant_owner');
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    rmSync(assetsDir, { recursive: true, force: true });
  });

  it('serves the page and its assets with a strict CSP (same-origin scripts, no inline script or style)', async () => {
    const page = await request(t.url).get('/dashboard');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect(page.text).not.toMatch(/<script>|<style|style="/);

    const scripts = [...page.text.matchAll(/(?:src|href)="(\/dashboard\/assets\/[^"]+)"/g)].map(
      (m) => m[1],
    );
    expect(scripts).toHaveLength(2);
    let jsBytes = 0;
    for (const path of scripts) {
      const asset = await request(t.url).get(path);
      expect(asset.status).toBe(200);
      expect(asset.headers['cache-control']).toContain('immutable');
      if (path.endsWith('.js')) jsBytes += Number(asset.headers['content-length']);
    }
    console.log(`dashboard JS on first load: ${jsBytes} bytes`);
    expect(jsBytes).toBeLessThan(300 * 1024);
    expect((await request(t.url).get('/dashboard/assets/nope.js')).status).toBe(404);
    expect((await request(t.url).get('/dashboard/assets/..%2f..%2fpackage.json')).status).toBe(404);
  });

  it('keeps Swagger UI working under the same CSP (only /docs may use inline styles)', async () => {
    const docs = await request(t.url).get('/docs');
    expect(String(docs.headers['content-security-policy'])).toContain(
      "style-src 'self' 'unsafe-inline'",
    );
    expect(String(docs.headers['content-security-policy'])).toContain("script-src 'self'");
    const page = await browser.page();
    await page.goto(`${t.url}/docs`);
    await page.waitForSelector('.swagger-ui .information-container', { timeout: 30_000 });
    expect(page.errors.filter((e) => /Content Security Policy/i.test(e))).toEqual([]);
    await page.close();
  });

  it('signs in with an API key and shows the tenant; a module that is absent (404) or closed to keys (403) is said in words', async () => {
    const page = await browser.page();
    // As on a server without the messaging module: its routes answer 404.
    await page.route('**/api/v1/consumers/status', (route) =>
      route.fulfill({ status: 404, contentType: 'application/json', body: '{"statusCode":404}' }),
    );
    // As past a rate limit: 429 with Retry-After.
    await page.route('**/api/v1/streaming/health', (route) =>
      route.fulfill({
        status: 429,
        headers: { 'retry-after': '7' },
        contentType: 'application/json',
        body: '{"statusCode":429,"message":"Too many requests"}',
      }),
    );
    await page.goto(`${t.url}/dashboard`);
    await page.fill('#api-key', tenantA.api_key);
    await page.click('#key-form button[type=submit]');
    await page.waitForSelector('#board:not([hidden])');
    expect(await page.textContent('#tenant-name')).toBe(tenantA.name);
    expect(await page.textContent('#role')).toBe('API key');
    await page.waitForSelector('#tenancy-body dl');
    expect(await page.textContent('#tenancy-body')).toContain(tenantA.id);
    await page.waitForSelector('#messaging-body .status-404');
    expect(await page.textContent('#messaging-body .status-404')).toBe('not available');
    await page.waitForSelector('#location-body .status-429');
    expect(await page.textContent('#location-body .status-429')).toMatch(
      /^rate limited, retrying in [1-7] s$/,
    );
    await page.waitForSelector('#location-body .status-403');
    expect(await page.textContent('#location-body .status-403')).toBe(
      "needs a tenant owner's sign-in",
    );
    // The key is never in a URL, and the page holds no credential of another tenant.
    expect(page.url()).not.toContain(tenantA.api_key);
    await screenshot(page, 'dashboard-api-key');
    expect(page.errors.filter((e) => /Content Security Policy/i.test(e))).toEqual([]);
    await page.close();
  });

  it('refuses a wrong API key in words, and stays on sign-in', async () => {
    const page = await browser.page();
    await page.goto(`${t.url}/dashboard`);
    await page.fill('#api-key', 'tsk_not-a-real-key');
    await page.click('#key-form button[type=submit]');
    await page.waitForSelector('#sign-in-message:not(:empty)');
    expect(await page.textContent('#sign-in-message')).toBe('That API key was not accepted.');
    expect(await page.isHidden('#board')).toBe(true);
    await screenshot(page, 'dashboard-wrong-key');
    await page.close();
  });

  it('says "wrong email or password", then "rate limited, try again in N s" past the account limit', async () => {
    const email = uniqueEmail('limited');
    await createCognitoUser(email);
    const page = await browser.page();
    await page.goto(`${t.url}/dashboard`);
    let message = '';
    for (let attempt = 0; attempt < 15 && !message.startsWith('Too many'); attempt += 1) {
      await page.fill('#email', email);
      await page.fill('#password', 'not-the-password');
      await page.click('#password-form button[type=submit]');
      await page.waitForSelector('#password-form button[type=submit]:not([disabled])');
      message = (await page.textContent('#sign-in-message')) ?? '';
      if (attempt === 0) expect(message).toBe('Wrong email or password.');
    }
    expect(message).toMatch(/^Too many attempts: rate limited, try again in \d+ s\.$/);
    await screenshot(page, 'dashboard-rate-limited');
    await page.close();
  });

  it('signs in with email and password, then lets a member of two tenants pick one', async () => {
    const email = uniqueEmail('multi');
    const userId = await createCognitoUser(email);
    await addMembership(tenantA.id, userId, email, 'user');
    await addMembership(tenantB.id, userId, email, 'tenant_owner');
    const page = await browser.page();
    await page.goto(`${t.url}/dashboard`);
    await page.fill('#email', email);
    await page.fill('#password', PASSWORD);
    await page.click('#password-form button[type=submit]');
    await page.waitForSelector('#tenant-picker:not([hidden])');
    await page.waitForSelector(`#tenant-choices button[data-tenant="${tenantB.id}"]`);
    expect(await page.textContent('#tenant-choices')).toContain(tenantB.name);
    await screenshot(page, 'dashboard-tenant-picker');
    // Keyboard only: the first choice has focus; Tab to the second, Enter.
    const focused = await inPage<string>(page, 'document.activeElement.dataset.tenant');
    if (focused !== tenantB.id) await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#board:not([hidden])');
    expect(await page.textContent('#tenant-name')).toBe(tenantB.name);
    expect(await page.textContent('#role')).toBe('tenant owner');
    await page.waitForSelector('#tenancy-body dl');
    expect(await page.textContent('#tenancy-body')).toContain(tenantB.id);
    await page.close();
  });

  it('signs out through /auth/logout: the token the page held is refused afterwards', async () => {
    const page = await browser.page();
    await page.goto(`${t.url}/dashboard`);
    await page.fill('#email', ownerA.email);
    await page.fill('#password', ownerA.password);
    await page.click('#password-form button[type=submit]');
    await page.waitForSelector('#board:not([hidden])');
    const token = await storedToken(page);
    expect(token).toBeTruthy();
    expect(
      (await request(t.url).get('/api/v1/auth/me').set('Authorization', `Bearer ${token}`)).status,
    ).toBe(200);

    await page.click('#sign-out');
    await page.waitForSelector('#sign-in:not([hidden])');
    expect(await page.textContent('#sign-in-message')).toBe('Signed out.');
    expect(await inPage<number>(page, 'sessionStorage.length')).toBe(0);
    const after = await request(t.url)
      .get('/api/v1/auth/me')
      .set('Authorization', `Bearer ${token}`);
    expect(after.status).toBe(401);
    await screenshot(page, 'dashboard-signed-out');
    await page.close();
  });

  it('goes back to sign-in, in words, when the session ends elsewhere (401)', async () => {
    const owner = await tenantMember(t, tenantA.id, 'tenant_owner');
    const page = await browser.page();
    await page.goto(`${t.url}/dashboard`);
    await page.fill('#email', owner.email);
    await page.fill('#password', owner.password);
    await page.click('#password-form button[type=submit]');
    await page.waitForSelector('#board:not([hidden])');
    const token = await storedToken(page);
    const logout = await request(t.url)
      .post('/api/v1/auth/logout')
      .set('Authorization', `Bearer ${token}`);
    expect(logout.status).toBe(204);
    // No reload: the server closes the page's socket (4401), the page checks its credential, is
    // refused and goes back to sign-in by itself, saying why, and forgets the token.
    await page.waitForSelector('#sign-in:not([hidden])');
    await page.waitForSelector('#sign-in-message:not(:empty)');
    expect(await page.textContent('#sign-in-message')).toMatch(/^Signed out: /);
    expect(await page.isHidden('#board')).toBe(true);
    expect(await storedToken(page)).toBeNull();
    await page.close();
  });

  it('is readable on a 390-px-wide phone: no horizontal scrolling of the page', async () => {
    const page = await browser.page({ width: 390, height: 844 });
    await page.goto(`${t.url}/dashboard`);
    await page.fill('#api-key', tenantA.api_key);
    await page.click('#key-form button[type=submit]');
    await page.waitForSelector('#tenancy-body dl');
    const overflow = await inPage<number>(
      page,
      'document.documentElement.scrollWidth - document.documentElement.clientWidth',
    );
    expect(overflow).toBeLessThanOrEqual(0);
    await screenshot(page, 'dashboard-phone');
    await page.close();
  });
});
