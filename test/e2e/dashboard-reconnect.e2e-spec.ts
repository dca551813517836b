import { rmSync } from 'node:fs';
import request from 'supertest';
import { DASHBOARD_ASSETS_DIR } from '../../src/modules/dashboard';
import { createTestApp, type TestApp } from '../support/app';
import {
  buildDashboardForTests,
  feedSeqs,
  FrontDoor,
  inPage,
  launchBrowser,
  portOf,
  screenshot,
  signInWithKey,
  type TestBrowser,
  waitLive,
} from '../support/browser';
import { createTenant, platformAdmin } from '../support/identities';
import { eventually } from '../support/services';

type Tenant = { id: string; api_key: string; name: string };

/**
 * The page's socket dropped, and its app instance stopped and a new one started, while events keep
 * arriving through another instance: the page reconnects, resumes with since_seq, and shows every
 * event exactly once.
 */
describe('dashboard: reconnect and resume (headless Chromium, two app instances)', () => {
  let assetsDir: string;
  let front: TestApp; // the instance the page talks to (through the door)
  let poster: TestApp; // the instance events are posted to
  let door: FrontDoor;
  let browser: TestBrowser;
  let tenant: Tenant;
  let foreign: Tenant; // posts of another tenant, interleaved: none may reach the page

  const app = () =>
    createTestApp({
      override: (builder) => builder.overrideProvider(DASHBOARD_ASSETS_DIR).useValue(assetsDir),
    });
  const post = async (type: string, n: number, as: Tenant = tenant) => {
    const res = await request(poster.url)
      .post('/api/v1/events')
      .set('X-API-Key', as.api_key)
      .send({ event_type: type, metadata: { n } });
    if (res.status !== 201) throw new Error(`POST /events answered ${res.status}`);
    return (res.body as { seq: number }).seq;
  };
  /** Posts `count` events one after another; `at` runs a disruption after the i-th post. */
  const postMany = async (
    type: string,
    count: number,
    at: Record<number, () => Promise<void> | void>,
  ) => {
    const seqs: number[] = [];
    const disruptions: Promise<void>[] = [];
    for (let i = 0; i < count; i += 1) {
      seqs.push(await post(type, i));
      if (i % 5 === 0) await post('foreign.event', i, foreign);
      const disrupt = at[i];
      if (disrupt) disruptions.push(Promise.resolve(disrupt()));
    }
    await Promise.all(disruptions);
    return seqs;
  };
  const exactlyOnce = async (page: Awaited<ReturnType<TestBrowser['page']>>, seqs: number[]) => {
    const shown = await eventually(
      () => feedSeqs(page),
      (rows) => seqs.every((seq) => rows.includes(seq)),
      60_000,
      250,
    );
    const counts = new Map<number, number>();
    for (const seq of shown) counts.set(seq, (counts.get(seq) ?? 0) + 1);
    const missing = seqs.filter((seq) => !counts.has(seq));
    const duplicated = [...counts].filter(([, n]) => n > 1).map(([seq]) => seq);
    console.log(
      `accepted ${seqs.length}, shown ${seqs.filter((s) => counts.has(s)).length}, missing ${missing.length}, duplicated ${duplicated.length}`,
    );
    expect(missing).toEqual([]);
    expect(duplicated).toEqual([]);
    expect(await page.$$('#feed-list li[data-type="foreign.event"]')).toHaveLength(0);
  };

  beforeAll(async () => {
    assetsDir = buildDashboardForTests();
    [front, poster] = await Promise.all([app(), app()]);
    door = await FrontDoor.start(portOf(front.url));
    browser = await launchBrowser();
    const admin = await platformAdmin(poster);
    tenant = (await createTenant(poster, admin)) as Tenant;
    foreign = (await createTenant(poster, admin)) as Tenant;
  });
  afterAll(async () => {
    await browser?.close();
    await door?.close();
    await Promise.all([front?.close(), poster?.close()]);
    rmSync(assetsDir, { recursive: true, force: true });
  });

  it('the socket dropped twice (by the page, then the network) mid-stream: every event once', async () => {
    const page = await browser.page();
    await signInWithKey(page, door.url, tenant.api_key);
    const seqs = await postMany('drop.test', 40, {
      10: () => inPage(page, 'window.tesseraDashboard.socket.drop()'),
      25: () => door.cut(),
    });
    await exactlyOnce(page, seqs);
    await waitLive(page);
    await page.close();
  });

  it("the page's app instance stopped and a new one started while events keep arriving: every event once", async () => {
    const page = await browser.page();
    await signInWithKey(page, door.url, tenant.api_key);
    const seqs = await postMany('restart.test', 60, {
      15: async () => {
        door.refusing = true;
        door.cut();
        await front.close();
        front = await app();
        door.target = portOf(front.url);
        door.refusing = false;
      },
    });
    await page.waitForSelector('#conn[data-state="connected"]', { timeout: 60_000 });
    await exactlyOnce(page, seqs);
    // And it stays live: nothing left from the failed attempts (their 1 s countdowns) turns the
    // state back to "connecting…" over the next few ticks.
    const states = await inPage<string[]>(
      page,
      `new Promise((resolve) => {
        const conn = document.querySelector('#conn');
        const seen = [conn.dataset.state];
        const observer = new MutationObserver(() => seen.push(conn.dataset.state));
        observer.observe(conn, { attributes: true, attributeFilter: ['data-state'] });
        setTimeout(() => { observer.disconnect(); resolve(seen); }, 2_500);
      })`,
    );
    expect(states.filter((state) => state !== 'connected')).toEqual([]);
    await screenshot(page, 'dashboard-after-restart');
    await page.close();
  });

  it('shows a notice on gap (more missed than the server replays), then the newest events', async () => {
    const previous = process.env.EVENTS_REPLAY_MAX;
    process.env.EVENTS_REPLAY_MAX = '5';
    const small = await app();
    const smallDoor = await FrontDoor.start(portOf(small.url));
    try {
      const page = await browser.page();
      await signInWithKey(page, smallDoor.url, tenant.api_key);
      smallDoor.refusing = true;
      smallDoor.cut();
      await page.waitForSelector('#conn:not([data-state="connected"])');
      const seqs = await postMany('gap.test', 12, {});
      smallDoor.refusing = false;
      await page.waitForSelector('#feed-notice:not([hidden])', { timeout: 60_000 });
      expect(await page.textContent('#feed-notice')).toMatch(/missed/);
      // The history reload after the gap brings the newest back.
      await exactlyOnce(page, seqs);
      await screenshot(page, 'dashboard-gap');
      await page.close();
    } finally {
      if (previous === undefined) delete process.env.EVENTS_REPLAY_MAX;
      else process.env.EVENTS_REPLAY_MAX = previous;
      await smallDoor.close();
      await small.close();
    }
  });
});
