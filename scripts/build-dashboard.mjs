// Bundles the dashboard (web/) with esbuild into dist/dashboard: content-hashed JS and CSS under
// assets/, and index.html naming them. `npm run build` runs it after `nest build` (which empties
// dist/). `@tessera/client` (packages/client) is bundled from its sources. `--outdir <dir>`
// builds elsewhere (the browser tests build into their own folder).
import { build } from 'esbuild';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const at = process.argv.indexOf('--outdir');
const outdir = at > 0 ? resolve(process.argv[at + 1]) : join(root, 'dist', 'dashboard');
const MAX_JS_BYTES = 300 * 1024;

export async function buildDashboard(target = outdir) {
  await rm(target, { recursive: true, force: true });
  await mkdir(join(target, 'assets'), { recursive: true });
  const result = await build({
    entryPoints: [join(root, 'web', 'main.ts')],
    bundle: true,
    minify: true,
    sourcemap: false,
    format: 'esm',
    target: ['es2022'],
    outdir: join(target, 'assets'),
    entryNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    metafile: true,
    legalComments: 'none',
    // The client package from its sources (built with the page, no separate build step).
    alias: { '@tessera/client': join(root, 'packages', 'client', 'src', 'index.ts') },
    logLevel: 'warning',
  });
  const outputs = Object.entries(result.metafile.outputs);
  const js = outputs.find(([file]) => file.endsWith('.js'));
  const css = outputs.find(([file]) => file.endsWith('.css'));
  if (!js || !css) throw new Error('esbuild produced no JS or CSS bundle');
  const jsBytes = outputs
    .filter(([file]) => file.endsWith('.js'))
    .reduce((sum, [, out]) => sum + out.bytes, 0);
  if (jsBytes > MAX_JS_BYTES)
    throw new Error(`dashboard JS is ${jsBytes} bytes, over the ${MAX_JS_BYTES}-byte budget`);

  const template = await readFile(join(root, 'web', 'index.html'), 'utf8');
  const html = template
    .replace('{{script}}', `/dashboard/assets/${basename(js[0])}`)
    .replace('{{style}}', `/dashboard/assets/${basename(css[0])}`);
  await writeFile(join(target, 'index.html'), html);
  await writeFile(
    join(target, 'manifest.json'),
    JSON.stringify(
      { script: basename(js[0]), style: basename(css[0]), js_bytes: jsBytes },
      null,
      2,
    ),
  );
  return { outdir: target, jsBytes, cssBytes: css[1].bytes };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildDashboard().then(
    ({ outdir: dir, jsBytes, cssBytes }) =>
      process.stdout.write(
        `dashboard: ${dir} (JS ${(jsBytes / 1024).toFixed(1)} KiB, CSS ${(cssBytes / 1024).toFixed(1)} KiB)\n`,
      ),
    (error) => {
      process.stderr.write(
        `dashboard build failed: ${error instanceof Error ? error.message : String(error)}\n`,
      );
      process.exit(1);
    },
  );
}
