import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

const ROOT = resolve(__dirname, '../..');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Ignored by git: every browser test leaves its screenshots here. */
export const SCREENSHOTS = join(ROOT, 'test-results', 'screenshots');

export interface TestBrowser {
  context: BrowserContext;
  /** A new tab (its own sessionStorage) at the given size, console errors collected. */
  page(viewport?: { width: number; height: number }): Promise<Page & { errors: string[] }>;
  close(): Promise<void>;
}

/** Debian's chromium, headless, through playwright-core (which never downloads a browser). */
export async function launchBrowser(): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: run bash scripts/ensure-chromium.sh (npm test does)`);
  }
  const profile = mkdtempSync(join(tmpdir(), 'tessera-chromium-'));
  // A fresh profile per run (playwright takes it as the persistent context's user data dir).
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    page: async (viewport = { width: 1280, height: 800 }) => {
      const page = (await context.newPage()) as Page & { errors: string[] };
      await page.setViewportSize(viewport);
      page.errors = [];
      page.on('console', (message) => {
        if (message.type() === 'error') page.errors.push(message.text());
      });
      page.on('pageerror', (error) => page.errors.push(error.message));
      return page;
    },
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const file = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  return file;
}

/**
 * Builds the page into a folder of this test run (not dist/, which `nest build` empties at any
 * time) and returns it, for `DASHBOARD_ASSETS_DIR`.
 */
export function buildDashboardForTests(): string {
  const outdir = join(ROOT, '.cache', `dashboard-e2e-${process.pid}`);
  execFileSync(
    process.execPath,
    [join(ROOT, 'scripts', 'build-dashboard.mjs'), '--outdir', outdir],
    {
      stdio: 'pipe',
    },
  );
  return outdir;
}

/** Evaluates an expression in the page (a string: the test project has no DOM types). */
export function inPage<T>(page: Page, expression: string): Promise<T> {
  return page.evaluate<T>(expression);
}

/** The bearer token the page keeps in sessionStorage, or null. */
export async function storedToken(page: Page): Promise<string | null> {
  const raw = await inPage<string | null>(
    page,
    "sessionStorage.getItem('tessera.dashboard.credential')",
  );
  return raw ? ((JSON.parse(raw) as { token?: string }).token ?? null) : null;
}
