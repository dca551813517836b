import { rmSync } from 'node:fs';
import request from 'supertest';
import { DASHBOARD_ASSETS_DIR } from '../../src/modules/dashboard';
import { createTestApp, type TestApp } from '../support/app';
import {
  buildDashboardForTests,
  feedSeqs,
  inPage,
  launchBrowser,
  screenshot,
  signInWithKey,
  type TestBrowser,
} from '../support/browser';
import { createTenant, platformAdmin } from '../support/identities';
import { eventually } from '../support/services';

type Tenant = { id: string; api_key: string; name: string };

/** The live feed and the stats in a real browser, against the real events module. */
describe('dashboard: live feed, filters and stats (headless Chromium)', () => {
  let t: TestApp;
  let browser: TestBrowser;
  let assetsDir: string;
  let tenantA: Tenant;
  let tenantB: Tenant;

  const post = async (tenant: Tenant, body: Record<string, unknown>) => {
    const res = await request(t.url)
      .post('/api/v1/events')
      .set('X-API-Key', tenant.api_key)
      .send(body);
    if (res.status !== 201)
      throw new Error(`POST /events answered ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body as { id: string; seq: number; event_type: string };
  };
  const typeCount = (page: Awaited<ReturnType<TestBrowser['page']>>, type: string) =>
    inPage<number>(
      page,
      `Number(document.querySelector('#by-type li[data-type="${type}"] .count')?.textContent ?? 0)`,
    );

  beforeAll(async () => {
    assetsDir = buildDashboardForTests();
    t = await createTestApp({
      override: (builder) => builder.overrideProvider(DASHBOARD_ASSETS_DIR).useValue(assetsDir),
    });
    browser = await launchBrowser();
    const admin = await platformAdmin(t);
    tenantA = (await createTenant(t, admin)) as Tenant;
    tenantB = (await createTenant(t, admin)) as Tenant;
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    rmSync(assetsDir, { recursive: true, force: true });
  });

  it('shows an event posted through the API within 1 s, and never a foreign tenant’s', async () => {
    const page = await browser.page();
    await signInWithKey(page, t.url, tenantA.api_key);
    const foreign = await post(tenantB, { event_type: 'foreign.secret', source: 'other' });
    const started = Date.now();
    const event = await post(tenantA, {
      event_type: 'order.created',
      source: 'shop',
      metadata: { order: 42 },
    });
    await page.waitForSelector(`#feed-list li[data-seq="${event.seq}"][data-id="${event.id}"]`, {
      timeout: 1_000,
    });
    console.log(`event visible in the feed ${Date.now() - started} ms after the POST was sent`);
    expect(await page.textContent(`#feed-list li[data-id="${event.id}"]`)).toContain(
      'order.created',
    );
    await screenshot(page, 'dashboard-feed-live');

    // A burst of B's events, then one of A's: when A's is shown, B's would have been too.
    for (let i = 0; i < 5; i += 1) await post(tenantB, { event_type: 'foreign.secret' });
    const marker = await post(tenantA, { event_type: 'marker' });
    await page.waitForSelector(`#feed-list li[data-id="${marker.id}"]`);
    expect(await page.$$(`#feed-list li[data-type="foreign.secret"]`)).toHaveLength(0);
    expect(await page.$(`#feed-list li[data-id="${foreign.id}"]`)).toBeNull();
    expect(await page.textContent('#feed-list')).not.toContain('foreign.secret');
    await page.close();
  });

  it('narrows the feed by type and by source; the stats count for a type rises with its posts', async () => {
    const page = await browser.page();
    await signInWithKey(page, t.url, tenantA.api_key);
    const posted = [];
    for (let i = 0; i < 3; i += 1)
      posted.push(await post(tenantA, { event_type: 'alpha.done', source: 'src-a' }));
    for (let i = 0; i < 2; i += 1)
      posted.push(await post(tenantA, { event_type: 'beta.done', source: 'src-b' }));
    const last = posted[posted.length - 1];
    await page.waitForSelector(`#feed-list li[data-seq="${last.seq}"]`);

    await page.selectOption('#filter-type', 'alpha.done');
    const visible = await inPage<string[]>(
      page,
      "[...document.querySelectorAll('#feed-list li.event')].filter((li) => !li.hidden).map((li) => li.dataset.type)",
    );
    expect(visible.length).toBeGreaterThanOrEqual(3);
    expect(new Set(visible)).toEqual(new Set(['alpha.done']));
    await page.selectOption('#filter-type', '');
    await page.selectOption('#filter-source', 'src-b');
    const sources = await inPage<string[]>(
      page,
      "[...document.querySelectorAll('#feed-list li.event')].filter((li) => !li.hidden).map((li) => li.dataset.source)",
    );
    expect(sources).toHaveLength(2);
    expect(new Set(sources)).toEqual(new Set(['src-b']));
    await screenshot(page, 'dashboard-feed-filtered');
    await page.selectOption('#filter-source', '');

    await page.waitForSelector('#by-type li[data-type="alpha.done"]');
    const before = await typeCount(page, 'alpha.done');
    for (let i = 0; i < 4; i += 1)
      await post(tenantA, { event_type: 'alpha.done', source: 'src-a' });
    const after = await eventually(
      () => typeCount(page, 'alpha.done'),
      (n) => n >= before + 4,
      10_000,
    );
    console.log(`stats: alpha.done ${before} → ${after} after 4 posts`);
    expect(after).toBe(before + 4);
    await screenshot(page, 'dashboard-stats');
    await page.close();
  });

  it('pauses: new events wait (counted) and arrive in order on resume, each once', async () => {
    const page = await browser.page();
    await signInWithKey(page, t.url, tenantA.api_key);
    await page.click('#pause');
    const held = [];
    for (let i = 0; i < 3; i += 1) held.push(await post(tenantA, { event_type: 'held.one' }));
    const count = await eventually(
      () => page.textContent('#feed-count'),
      (text) => Boolean(text?.includes('3 new while paused')),
      10_000,
    );
    expect(count).toContain('3 new while paused');
    expect(await page.$(`#feed-list li[data-seq="${held[0].seq}"]`)).toBeNull();
    await page.click('#pause');
    await page.waitForSelector(`#feed-list li[data-seq="${held[2].seq}"]`);
    const seqs = await feedSeqs(page);
    expect(seqs.slice(0, 3)).toEqual(held.map((e) => e.seq).reverse());
    expect(new Set(seqs).size).toBe(seqs.length);
    await page.close();
  });
});
