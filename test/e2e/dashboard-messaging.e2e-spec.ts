import { rmSync } from 'node:fs';
import request from 'supertest';
import { DASHBOARD_ASSETS_DIR } from '../../src/modules/dashboard';
import { createTestApp, type TestApp } from '../support/app';
import {
  buildDashboardForTests,
  launchBrowser,
  screenshot,
  signInWithPassword,
  type TestBrowser,
} from '../support/browser';
import { createTenant, type Identity, platformAdmin, tenantMember } from '../support/identities';
import { HttpSink } from '../support/http-sink';
import { eventually } from '../support/services';
import { uniqueName } from '../support/tenancy';

type Tenant = { id: string; api_key: string; name: string };

/** The messaging panel: an owner changes a queue's workers from the page; a user sees no control. */
describe('dashboard: messaging panel by role (headless Chromium)', () => {
  let t: TestApp;
  let browser: TestBrowser;
  let assetsDir: string;
  let tenantA: Tenant;
  let tenantB: Tenant;
  let ownerA: Identity;
  let userA: Identity;
  let ownerB: Identity;
  let sink: HttpSink;
  let previousAllowed: string | undefined;
  const queue = uniqueName('dash').toLowerCase();

  const publish = async (tenant: Tenant, queueName: string) => {
    const res = await request(t.url)
      .post('/api/v1/messages')
      .set('X-API-Key', tenant.api_key)
      .send({ queue_name: queueName, payload: { hello: 'dashboard' } });
    if (res.status !== 202) throw new Error(`POST /messages answered ${res.status}`);
  };
  const workersOf = async (tenantId: string, queueName: string, owner: Identity) => {
    const res = await request(t.url)
      .get(`/api/v1/tenants/${tenantId}/consumers/${queueName}/status`)
      .set('Authorization', owner.bearer);
    return (res.body as { workers?: number }).workers;
  };

  beforeAll(async () => {
    assetsDir = buildDashboardForTests();
    // A local webhook that fails on demand (allowed as a delivery target for this app only).
    sink = await new HttpSink().start();
    previousAllowed = process.env.LOCATION_DELIVERY_ALLOWED_HOSTS;
    process.env.LOCATION_DELIVERY_ALLOWED_HOSTS = `127.0.0.1:${sink.port}`;
    t = await createTestApp({
      override: (builder) => builder.overrideProvider(DASHBOARD_ASSETS_DIR).useValue(assetsDir),
    });
    browser = await launchBrowser();
    const admin = await platformAdmin(t);
    tenantA = (await createTenant(t, admin)) as Tenant;
    tenantB = (await createTenant(t, admin)) as Tenant;
    [ownerA, userA, ownerB] = await Promise.all([
      tenantMember(t, tenantA.id, 'tenant_owner'),
      tenantMember(t, tenantA.id, 'user'),
      tenantMember(t, tenantB.id, 'tenant_owner'),
    ]);
    // Only an owner makes a queue (an API key publishes to existing ones).
    const made = await request(t.url)
      .put(`/api/v1/tenants/${tenantA.id}/consumers/${queue}/config`)
      .set('Authorization', ownerA.bearer)
      .send({ workers: 3 });
    if (made.status !== 200) throw new Error(`PUT consumers config answered ${made.status}`);
    await publish(tenantA, queue);
    await publish(tenantB, 'default');
  });
  afterAll(async () => {
    if (previousAllowed === undefined) delete process.env.LOCATION_DELIVERY_ALLOWED_HOSTS;
    else process.env.LOCATION_DELIVERY_ALLOWED_HOSTS = previousAllowed;
    await browser?.close();
    await t?.close();
    await sink?.close();
    rmSync(assetsDir, { recursive: true, force: true });
  });

  it("an owner changes a queue's workers from the page; the status panel shows the new count", async () => {
    const page = await browser.page();
    await signInWithPassword(page, t.url, ownerA.email, ownerA.password);
    const row = `#messaging-body tr[data-queue="${queue}"]`;
    await page.waitForSelector(row);
    const before = Number(await page.textContent(`${row} [data-figure="workers"]`));
    const next = before === 4 ? 5 : 4;
    // Keyboard: focus the field, type the count, Enter submits.
    await page.focus(`${row} input.workers-input`);
    await page.fill(`${row} input.workers-input`, String(next));
    await page.keyboard.press('Enter');
    const shown = await eventually(
      () => page.textContent(`${row} [data-figure="workers"]`),
      (text) => text === String(next),
      15_000,
    );
    expect(shown).toBe(String(next));
    expect(await workersOf(tenantA.id, queue, ownerA)).toBe(next);
    console.log(`workers of ${queue}: ${before} → ${next} (page and API agree)`);
    await screenshot(page, 'dashboard-messaging-owner');
    await page.close();
  });

  it('an owner retries a failed message from the page; it is processed and leaves the failed list', async () => {
    const hooks = uniqueName('hooks').toLowerCase();
    sink.mode = 500;
    const configured = await request(t.url)
      .put(`/api/v1/tenants/${tenantA.id}/consumers/${hooks}/config`)
      .set('Authorization', ownerA.bearer)
      .send({ workers: 1, max_attempts: 1, webhook_url: sink.url });
    expect(configured.status).toBe(200);
    const published = await request(t.url)
      .post('/api/v1/messages')
      .set('Authorization', ownerA.bearer)
      .send({ queue_name: hooks, payload: { poison: true } });
    expect(published.status).toBe(202);
    const id = (published.body as { id: string }).id;
    const statusOf = async () =>
      (
        (await request(t.url).get(`/api/v1/messages/${id}`).set('Authorization', ownerA.bearer))
          .body as { status: string }
      ).status;
    expect(await eventually(statusOf, (s) => s === 'failed', 30_000)).toBe('failed');

    const page = await browser.page();
    await signInWithPassword(page, t.url, ownerA.email, ownerA.password);
    const item = `#messaging-body li[data-message="${id}"]`;
    await page.waitForSelector(`${item} button.retry`, { timeout: 15_000 });
    await screenshot(page, 'dashboard-messaging-failed');
    // The fault is fixed: the queue no longer calls the webhook (its breaker may still be open).
    const unhooked = await request(t.url)
      .put(`/api/v1/tenants/${tenantA.id}/consumers/${hooks}/config`)
      .set('Authorization', ownerA.bearer)
      .send({ workers: 1, webhook_url: null });
    expect(unhooked.status).toBe(200);
    const answer = page.waitForResponse((r) => r.url().endsWith(`/api/v1/messages/${id}/retry`));
    await page.click(`${item} button.retry`);
    const retried = await answer;
    expect(retried.status()).toBe(202);
    expect(await eventually(statusOf, (s) => s === 'processed', 30_000)).toBe('processed');
    await page.waitForSelector(item, { state: 'detached', timeout: 15_000 });
    console.log(`failed message ${id}: retried from the page, now processed`);
    await page.close();
  });

  it('a plain user sees the figures but no control', async () => {
    const page = await browser.page();
    await signInWithPassword(page, t.url, userA.email, userA.password);
    await page.waitForSelector('#messaging-body [data-figure="recent-messages"]');
    expect(await page.$$('#messaging-body input.workers-input')).toHaveLength(0);
    expect(await page.$$('#messaging-body button.retry')).toHaveLength(0);
    expect(await page.$$('#messaging-body form')).toHaveLength(0);
    expect(await page.textContent('#role')).toBe('user');
    await screenshot(page, 'dashboard-messaging-user');
    await page.close();
  });

  it("another tenant's owner never sees this tenant's queue", async () => {
    const page = await browser.page();
    await signInWithPassword(page, t.url, ownerB.email, ownerB.password);
    await page.waitForSelector('#messaging-body tr[data-queue="default"]');
    expect(await page.$(`#messaging-body tr[data-queue="${queue}"]`)).toBeNull();
    const texts = await eventually(
      () => page.textContent('#messaging-body'),
      (text) => Boolean(text),
    );
    expect(texts).not.toContain(queue);
    await page.close();
  });
});
