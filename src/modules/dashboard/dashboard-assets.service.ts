import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';

/** DI token: the folder `scripts/build-dashboard.mjs` wrote (tests point it at their own build). */
export const DASHBOARD_ASSETS_DIR = Symbol('DASHBOARD_ASSETS_DIR');

/** dist/dashboard, seen from dist/src/modules/dashboard (built) or src/modules/dashboard (ts). */
export function defaultDashboardDir(): string {
  const candidates = [
    resolve(__dirname, '../../../dashboard'),
    resolve(__dirname, '../../../dist/dashboard'),
  ];
  return candidates.find((dir) => existsSync(join(dir, 'index.html'))) ?? candidates[0];
}

export interface DashboardAsset {
  body: Buffer;
  contentType: string;
  etag: string;
}

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

/**
 * The built page, read once at start and served from memory: a rebuild of dist/ while the app
 * runs cannot half-serve a page, and the set of servable files is fixed (no path from a request
 * ever reaches the file system).
 */
@Injectable()
export class DashboardAssets implements OnModuleInit {
  private readonly logger = new Logger(DashboardAssets.name);
  private index?: DashboardAsset;
  private readonly assets = new Map<string, DashboardAsset>();

  constructor(@Inject(DASHBOARD_ASSETS_DIR) private readonly dir: string) {}

  onModuleInit(): void {
    const indexFile = join(this.dir, 'index.html');
    if (!existsSync(indexFile)) {
      this.logger.warn(
        { dir: this.dir },
        'Dashboard not built (npm run build); /dashboard answers 503',
      );
      return;
    }
    this.index = asset(readFileSync(indexFile), '.html');
    const assetsDir = join(this.dir, 'assets');
    if (!existsSync(assetsDir)) return;
    for (const name of readdirSync(assetsDir)) {
      const type = extname(name);
      if (!CONTENT_TYPES[type]) continue;
      this.assets.set(name, asset(readFileSync(join(assetsDir, name)), type));
    }
  }

  page(): DashboardAsset | undefined {
    return this.index;
  }

  file(name: string): DashboardAsset | undefined {
    return this.assets.get(name);
  }
}

function asset(body: Buffer, type: string): DashboardAsset {
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
  return { body, contentType: CONTENT_TYPES[type], etag };
}
