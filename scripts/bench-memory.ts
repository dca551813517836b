import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { ensurePlatformAdmin } from '../src/cli/create-platform-admin';
import { loadLocalEnv } from '../src/config';
import {
  freePort,
  mainThreadCpuMicros,
  memoryOf,
  median,
  out,
  sleep,
  waitReady,
  apiCall,
  benchLogin,
  BENCH_PASSWORD,
} from './bench-support';

/**
 * `npm run bench:memory` (builds first; services up). The built app runs in its own process, as
 * in production (NODE_ENV=production: JSON logs, no pretty-printing worker), once per variant of
 * Node flags (BENCH_MEMORY_VARIANTS, `;`-separated; `-` for none). For each: RSS and V8 heap at
 * idle (after boot and a settle), the peak under load (location updates by 8 users and message
 * publishes to a tenant queue, closed loop, BENCH_MEMORY_SECONDS), the requests served, and idle
 * again after the load. BENCH_SNAPSHOT_DIR: heap snapshots (SIGUSR2) idle and under load there
 * (a snapshot's own allocation then shows in the peak: read the figures of a run without).
 */
const SECONDS = Number(process.env.BENCH_MEMORY_SECONDS ?? 20);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
// Default: no flags, then the Dockerfile's NODE_OPTIONS (the bounds production runs with).
const VARIANTS = (
  process.env.BENCH_MEMORY_VARIANTS ?? '-;--max-semi-space-size=16 --max-old-space-size=256'
)
  .split(';')
  .map((v) => v.trim())
  .filter(Boolean);
const SNAPSHOT_DIR = process.env.BENCH_SNAPSHOT_DIR;
const USERS = 8;
// Its own admin: another benchmark re-creating the shared bench admin would not log this one out.
const EMAIL = 'bench-memory-admin@bench.tessera.dev';

interface Figures {
  idleRss: number;
  idleHeap?: number;
  loadRss: number;
  loadHeap?: number;
  idleDetail: { heapTotal: number; external: number };
  loadDetail: { heapTotal: number; external: number };
  afterRss: number;
  requests: number;
  errors: number;
  cpuMicrosPerRequest: number;
}

/** A tenant of this run with USERS users, each with an active location session. */
async function setUp(url: string, run: string) {
  await ensurePlatformAdmin(EMAIL, BENCH_PASSWORD);
  const admin = await benchLogin(url, EMAIL);
  const tenant = await apiCall(url, 'POST', '/api/v1/tenants', admin, { name: `bench-mem-${run}` });
  if (tenant.status !== 201) throw new Error(`POST /tenants answered ${tenant.status}`);
  const tenantId = tenant.body.id as string;
  const users: Array<{ token: string; sessionId: string }> = [];
  for (let i = 0; i < USERS; i++) {
    const email = `bench-mem-${run}-${i}@bench.tessera.dev`;
    await apiCall(url, 'POST', `/api/v1/tenants/${tenantId}/users`, admin, {
      email,
      role: 'user',
      temporary_password: BENCH_PASSWORD,
    });
    const token = await benchLogin(url, email, tenantId);
    const started = await apiCall(url, 'POST', '/api/v1/location/session/start', token, {
      duration_seconds: 3600,
    });
    if (started.status !== 201) throw new Error(`session/start answered ${started.status}`);
    users.push({ token, sessionId: started.body.id as string });
  }
  return { admin, tenantId, users };
}

/** Closed loop for `seconds`: CONCURRENCY workers, each sending `next()`'s request. */
async function load(
  pool: Pool,
  seconds: number,
  next: (i: number) => { path: string; token: string; body: string },
): Promise<{ requests: number; errors: number }> {
  let requests = 0;
  let errors = 0;
  const until = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, w) => {
      for (let i = w; performance.now() < until; i += CONCURRENCY) {
        const { path, token, body } = next(i);
        const res = await pool.request({
          method: 'POST',
          path,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body,
        });
        await res.body.dump();
        requests++;
        if (res.statusCode >= 300) errors++;
      }
    }),
  );
  return { requests, errors };
}

/** V8's heap committed (total) and the memory held outside it (Buffers, ArrayBuffers), bytes. */
async function heapDetail(metricsUrl: string): Promise<{ heapTotal: number; external: number }> {
  try {
    const text = await (await fetch(metricsUrl)).text();
    const read = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
    return {
      heapTotal: read('nodejs_heap_size_total_bytes'),
      external: read('nodejs_external_memory_bytes'),
    };
  } catch {
    return { heapTotal: 0, external: 0 };
  }
}

async function snapshot(app: ChildProcess, label: string): Promise<void> {
  if (!SNAPSHOT_DIR) return;
  app.kill('SIGUSR2');
  out(`  heap snapshot (${label}) requested into ${SNAPSHOT_DIR}`);
  await sleep(1_000);
}

async function measure(flags: string[]): Promise<Figures> {
  const run = randomUUID().slice(0, 8);
  const port = await freePort();
  const metricsPort = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const app = spawn(
    process.execPath,
    [
      ...flags,
      ...(SNAPSHOT_DIR
        ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${SNAPSHOT_DIR}`]
        : []),
      join(__dirname, '..', 'src', 'main.js'),
    ],
    {
      env: {
        ...process.env,
        PORT: String(port),
        METRICS_PORT: String(metricsPort),
        METRICS_TOKEN: '',
        HOST: '127.0.0.1',
        NODE_ENV: 'production',
        LOG_LEVEL: 'warn',
        AUTH_LOGIN_LIMIT_IP: process.env.AUTH_LOGIN_LIMIT_IP ?? '100000',
        LOCATION_TOPIC: `bench.memory.${run}`,
        LOCATION_DLQ_TOPIC: `bench.memory.${run}.dlq`,
        LOCATION_GROUP_PREFIX: `bench-memory-${run}`,
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const source = { pid: app.pid!, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics` };
  try {
    await waitReady(url, '/health/ready');
    const { admin, tenantId, users } = await setUp(url, run);
    // Idle: boot, set-up done, then a settle; the median of a few reads.
    await sleep(5_000);
    const idle: Array<{ rssBytes: number; heapUsedBytes?: number }> = [];
    for (let i = 0; i < 5; i++, await sleep(400)) idle.push(await memoryOf(source));
    const idleDetail = await heapDetail(source.metricsUrl);
    await snapshot(app, 'idle');

    const pool = new Pool(url, { connections: CONCURRENCY });
    let loadRss = 0;
    let loadHeap: number | undefined;
    const loadDetail = { heapTotal: 0, external: 0 };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const m = await memoryOf(source);
        if (m.rssBytes > loadRss) [loadRss, loadHeap] = [m.rssBytes, m.heapUsedBytes];
        const d = await heapDetail(source.metricsUrl);
        loadDetail.heapTotal = Math.max(loadDetail.heapTotal, d.heapTotal);
        loadDetail.external = Math.max(loadDetail.external, d.external);
        await sleep(250);
      }
    })();
    const snapshotMidway = sleep((SECONDS * 1000) / 2).then(() => snapshot(app, 'under load'));
    const cpuBefore = mainThreadCpuMicros(source);
    // Every fourth request a message publish, the others location updates of the users in turn.
    const served = await load(pool, SECONDS, (i) => {
      if (i % 4 === 3) {
        return {
          path: `/api/v1/tenants/${tenantId}/messages`,
          token: admin,
          body: JSON.stringify({ queue_name: 'default', payload: { i } }),
        };
      }
      const user = users[i % users.length];
      return {
        path: '/api/v1/location/update',
        token: user.token,
        body: JSON.stringify({
          session_id: user.sessionId,
          latitude: 52.52 + (i % 100) / 1000,
          longitude: 13.4,
          accuracy: 5,
        }),
      };
    });
    const cpuMicrosPerRequest = (mainThreadCpuMicros(source) - cpuBefore) / served.requests;
    sampling = false;
    await Promise.all([sampler, snapshotMidway]);
    await pool.close();
    await sleep(10_000);
    const after = await memoryOf(source);
    return {
      idleRss: median(idle.map((m) => m.rssBytes)),
      idleHeap: idle.at(-1)?.heapUsedBytes,
      loadRss,
      loadHeap,
      idleDetail,
      loadDetail,
      afterRss: after.rssBytes,
      ...served,
      cpuMicrosPerRequest,
    };
  } finally {
    app.kill('SIGTERM');
    await new Promise((resolve) => app.once('exit', resolve));
  }
}

const mb = (bytes?: number) => (bytes === undefined ? 'n/a' : `${(bytes / 2 ** 20).toFixed(0)} MB`);

async function main(): Promise<void> {
  loadLocalEnv();
  out(
    `\nmemory of the built app (NODE_ENV=production), ${SECONDS} s of load at concurrency ${CONCURRENCY} (location updates + message publishes, 3:1); targets: idle ≤ 200 MB, under load ≤ 300 MB`,
  );
  for (const variant of VARIANTS) {
    const flags = variant === '-' ? [] : variant.split(/\s+/);
    const f = await measure(flags);
    out(
      `${variant === '-' ? '(no flags)' : variant}: idle RSS ${mb(f.idleRss)} (heap used ${mb(f.idleHeap)}, committed ${mb(f.idleDetail.heapTotal)}, external ${mb(f.idleDetail.external)}), ` +
        `under load peak RSS ${mb(f.loadRss)} (heap used ${mb(f.loadHeap)}, committed peak ${mb(f.loadDetail.heapTotal)}, external peak ${mb(f.loadDetail.external)}), after ${mb(f.afterRss)}; ` +
        `${f.requests} requests (${(f.requests / SECONDS).toFixed(0)}/s, main-thread CPU ${f.cpuMicrosPerRequest.toFixed(0)} µs/request), ${f.errors} not 2xx`,
    );
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `bench:memory failed: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(1);
  },
);
