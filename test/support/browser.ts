import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
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

/**
 * A front door the page loads from, whose back end a test can swap: the page keeps one origin
 * while the app instance behind it is killed and another started. `cut()` ends every open
 * connection (as a network failure or a dying instance would); `target` picks the next back end.
 */
export class FrontDoor {
  private readonly sockets = new Set<Socket>();
  /** While set, new connections are closed as soon as they open (the instance is unreachable). */
  refusing = false;
  private constructor(
    private readonly server: Server,
    public target: number,
  ) {}

  static async start(targetPort: number): Promise<FrontDoor> {
    const holder: { door?: FrontDoor } = {};
    const server = createServer((client) => holder.door!.connect(client));
    holder.door = new FrontDoor(server, targetPort);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return holder.door;
  }

  get url(): string {
    const address = this.server.address();
    return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  }

  cut(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private connect(client: Socket): void {
    if (this.refusing) {
      client.destroy();
      return;
    }
    const upstream = connect(this.target, '127.0.0.1');
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  }
}

/** The port of a TestApp's URL. */
export const portOf = (url: string): number => Number(new URL(url).port);

/** Opens the dashboard at `baseUrl` and signs in with an API key; resolves once the feed is live. */
export async function signInWithKey(page: Page, baseUrl: string, apiKey: string): Promise<void> {
  await page.goto(`${baseUrl}/dashboard`);
  await page.fill('#api-key', apiKey);
  await page.click('#key-form button[type=submit]');
  await page.waitForSelector('#board:not([hidden])');
  await waitLive(page);
}

export async function signInWithPassword(
  page: Page,
  baseUrl: string,
  email: string,
  password: string,
): Promise<void> {
  await page.goto(`${baseUrl}/dashboard`);
  await page.fill('#email', email);
  await page.fill('#password', password);
  await page.click('#password-form button[type=submit]');
  await page.waitForSelector('#board:not([hidden])');
}

export function waitLive(page: Page, timeout = 15_000): Promise<unknown> {
  return page.waitForSelector('#conn[data-state="connected"]', { timeout });
}

/** Seqs of the feed's rows, top to bottom (every row, filtered out or not). */
export function feedSeqs(page: Page, visibleOnly = false): Promise<number[]> {
  return inPage<number[]>(
    page,
    `[...document.querySelectorAll('#feed-list li.event')]${visibleOnly ? '.filter((li) => !li.hidden)' : ''}.map((li) => Number(li.dataset.seq))`,
  );
}
