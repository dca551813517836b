import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { ensurePlatformAdmin } from '../src/cli/create-platform-admin';
import { loadLocalEnv } from '../src/config';

/**
 * `npm run bench:auth` (after `npm run build`, services up): the app in its own process, then at
 * a fixed concurrency, the same number of seconds each, a public route and the authenticated
 * `GET /api/v1/auth/me` (JWT verification + Redis session + one membership query), plus the
 * authenticated `GET /api/v1/context` (authentication alone). Prints req/s, p50, p99, ratios.
 */
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP_SECONDS = 2;
const EMAIL = 'bench-admin@bench.tessera.dev';
const PASSWORD = 'Bench-Passw0rd!';

interface Result {
  label: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitReady(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${url}/health/live`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('the app did not start');
}

async function load(
  pool: Pool,
  path: string,
  headers: Record<string, string>,
  seconds: number,
): Promise<Omit<Result, 'label'>> {
  const latencies: number[] = [];
  let errors = 0;
  const deadline = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < deadline) {
      const started = performance.now();
      const res = await pool.request({ method: 'GET', path, headers });
      await res.body.dump();
      latencies.push(performance.now() - started);
      if (res.statusCode !== 200) errors++;
    }
  };
  const began = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const elapsed = (performance.now() - began) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { rps: latencies.length / elapsed, p50: at(0.5), p99: at(0.99), errors };
}

async function call(
  url: string,
  method: string,
  path: string,
  token: string,
  body?: object,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A member of the tenant "Bench" (created on first run), logged in to it: the usual caller. */
async function memberToken(url: string, adminToken: string): Promise<string> {
  let tenant = await call(url, 'POST', '/api/v1/tenants', adminToken, { name: 'Bench' });
  if (tenant.status === 409) {
    const list = await call(url, 'GET', '/api/v1/tenants?limit=100', adminToken);
    tenant = {
      status: 200,
      body: (list.body.data as { name: string }[]).find((t) => t.name === 'Bench')!,
    };
  }
  const tenantId = tenant.body.id as string;
  const email = 'bench-user@bench.tessera.dev';
  await call(url, 'POST', `/api/v1/tenants/${tenantId}/users`, adminToken, {
    email,
    role: 'user',
    temporary_password: PASSWORD,
  });
  const res = await fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      email,
      password: PASSWORD,
      new_password: PASSWORD,
      tenant_id: tenantId,
    }),
  });
  if (res.status !== 200)
    throw new Error(`member login answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

async function main(): Promise<void> {
  loadLocalEnv();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const app = spawn(process.execPath, [join(__dirname, '..', 'src', 'main.js')], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      NODE_ENV: 'development',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    await waitReady(url);
    await ensurePlatformAdmin(EMAIL, PASSWORD);
    const login = await fetch(`${url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: EMAIL, password: PASSWORD }),
    });
    if (login.status !== 200)
      throw new Error(`login answered ${login.status}: ${await login.text()}`);
    const { access_token: adminToken } = (await login.json()) as { access_token: string };
    const token = await memberToken(url, adminToken);
    const auth = { authorization: `Bearer ${token}` };

    const pool = new Pool(url, { connections: CONCURRENCY });
    const routes: [string, string, Record<string, string>][] = [
      ['public  GET /health/live', '/health/live', {}],
      ['session GET /api/v1/auth/me', '/api/v1/auth/me', auth],
      ['session GET /api/v1/context', '/api/v1/context', auth],
    ];
    const results: Result[] = [];
    for (const [label, path, headers] of routes) {
      await load(pool, path, headers, WARMUP_SECONDS);
      results.push({ label, ...(await load(pool, path, headers, SECONDS)) });
    }
    await pool.close();

    const base = results[0];
    process.stdout.write(
      `\nbench:auth — concurrency ${CONCURRENCY}, ${SECONDS} s per route (after ${WARMUP_SECONDS} s warm-up)\n\n`,
    );
    process.stdout.write(
      `${'route'.padEnd(32)}${'req/s'.padStart(10)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}${'vs public'.padStart(12)}${'errors'.padStart(8)}\n`,
    );
    for (const r of results) {
      const ratio = `${((r.rps / base.rps) * 100).toFixed(1)} %`;
      process.stdout.write(
        `${r.label.padEnd(32)}${r.rps.toFixed(0).padStart(10)}${r.p50.toFixed(2).padStart(10)}${r.p99.toFixed(2).padStart(10)}${ratio.padStart(12)}${String(r.errors).padStart(8)}\n`,
      );
    }
    const me = results[1];
    const cost = (1 - me.rps / base.rps) * 100;
    process.stdout.write(
      `\nauthentication cost on /auth/me: ${cost.toFixed(1)} % of throughput (target ≤ 25 %); p99 ${me.p99.toFixed(1)} ms (target ≤ 30 ms)\n`,
    );
  } finally {
    app.kill('SIGTERM');
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench:auth failed: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
