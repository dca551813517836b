import { Redis } from 'ioredis';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { ensurePlatformAdmin } from '../src/cli/create-platform-admin';
import { loadLocalEnv, redisConfig } from '../src/config';
import {
  apiCall,
  benchAppNodeArgs,
  BENCH_PASSWORD,
  benchLogin,
  freePort,
  median,
  spawnBuiltApp,
  waitReady,
  WorkMeter,
} from './bench-support';

/**
 * `npm run bench:auth` (builds first; services up): the app in its own process, then at a fixed
 * concurrency a public route (the baseline), the authenticated `GET /api/v1/auth/me` (JWT
 * verification, then the session from the in-process cache, or one Redis round trip for the
 * session and the membership version; AUTH_SESSION_CACHE_MS=0 measures the latter) and the
 * authenticated `GET /api/v1/context`. The routes alternate in short rounds (ABCABC…), so machine
 * noise falls on all of them alike; each round's authenticated figure is divided by the same
 * round's public one, and the median of those ratios is reported with its spread (min–max).
 */
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const ROUND_SECONDS = Number(process.env.BENCH_ROUND_SECONDS ?? 3);
const WARMUP_SECONDS = 2;
const EMAIL = 'bench-admin@bench.tessera.dev';

interface Result {
  rps: number;
  requests: number;
  p50: number;
  p99: number;
  errors: number;
}

const pct = (ratio: number) => `${(ratio * 100).toFixed(1)} %`;
const spread = (values: number[]) =>
  `${pct(Math.min(...values))}–${pct(Math.max(...values))}`.padStart(18);

async function load(
  pool: Pool,
  path: string,
  headers: Record<string, string>,
  seconds: number,
): Promise<Result> {
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
  return {
    rps: latencies.length / elapsed,
    requests: latencies.length,
    p50: at(0.5),
    p99: at(0.99),
    errors,
  };
}

/** A member of the tenant "Bench" (created on first run), logged in to it: the usual caller. */
async function memberToken(url: string, adminToken: string): Promise<string> {
  let tenant = await apiCall(url, 'POST', '/api/v1/tenants', adminToken, { name: 'Bench' });
  if (tenant.status === 409) {
    const list = await apiCall(url, 'GET', '/api/v1/tenants?limit=100', adminToken);
    tenant = {
      status: 200,
      body: (list.body.data as { name: string }[]).find((t) => t.name === 'Bench')!,
    };
  }
  const tenantId = tenant.body.id as string;
  const email = 'bench-user@bench.tessera.dev';
  await apiCall(url, 'POST', `/api/v1/tenants/${tenantId}/users`, adminToken, {
    email,
    role: 'user',
    temporary_password: BENCH_PASSWORD,
  });
  return benchLogin(url, email, tenantId);
}

/**
 * The session lookup's two reads (the session hash, the membership version) at the bench's
 * concurrency, in this process: as an explicit pipeline per lookup on a plain client, and as two
 * commands on an auto-pipelining client (what the app does). Prints CPU per lookup and lookups/s.
 */
async function lookupShapes(out: (line: string) => void): Promise<void> {
  const { url, keyPrefix } = redisConfig();
  const [plain, auto] = [new Redis(url), new Redis(url, { enableAutoPipelining: true })];
  const [session, version] = [`${keyPrefix}bench:session`, `${keyPrefix}bench:mv`];
  try {
    await plain.hset(session, { id: 'bench', user_id: 'u', memberships: '[]', role: 'user' });
    await plain.set(version, '1');
    const shapes: [string, () => Promise<unknown>][] = [
      [
        'explicit pipeline, plain client',
        () => plain.pipeline().hgetall(session).get(version).exec(),
      ],
      [
        'two commands, auto-pipelined',
        () => Promise.all([auto.hgetall(session), auto.get(version)]),
      ],
    ];
    const lookups = 20_000;
    out(
      `\nRedis session lookup (bench process, concurrency ${CONCURRENCY}, ${lookups} lookups per round, ABAB…):`,
    );
    for (let round = 0; round < 3; round++)
      for (const [label, lookup] of shapes) {
        let left = lookups;
        const worker = async () => {
          while (left-- > 0) await lookup();
        };
        const cpu = process.cpuUsage();
        const began = performance.now();
        await Promise.all(Array.from({ length: CONCURRENCY }, worker));
        const used = process.cpuUsage(cpu);
        const seconds = (performance.now() - began) / 1000;
        out(
          `${label.padEnd(34)}${`${((used.user + used.system) / lookups).toFixed(1)} µs CPU/lookup`.padStart(24)}${`${(lookups / seconds).toFixed(0)} lookups/s`.padStart(20)}`,
        );
      }
  } finally {
    await plain.del(session, version);
    plain.disconnect();
    auto.disconnect();
  }
}

async function main(): Promise<void> {
  loadLocalEnv();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const app = spawnBuiltApp(
    port,
    // Its few logins come from 127.0.0.1, like every local test's: not this run's concern.
    { AUTH_LOGIN_LIMIT_IP: process.env.AUTH_LOGIN_LIMIT_IP ?? '100000' },
    benchAppNodeArgs(),
  );
  try {
    await waitReady(url, '/health/live', 100);
    await ensurePlatformAdmin(EMAIL, BENCH_PASSWORD);
    const login = await fetch(`${url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: EMAIL, password: BENCH_PASSWORD }),
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
    for (const [, path, headers] of routes) await load(pool, path, headers, WARMUP_SECONDS);
    // The app's main thread, per route: its CPU over that route's rounds ÷ the requests served.
    const meters = routes.map(() => new WorkMeter({ pid: app.pid!, metricsUrl: `${url}/metrics` }));
    // rounds[r][i]: route i in round r; the routes take turns within every round.
    const rounds: Result[][] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const results: Result[] = [];
      for (const [i, [, path, headers]] of routes.entries()) {
        meters[i].start();
        const result = await load(pool, path, headers, ROUND_SECONDS);
        await meters[i].stop(result.requests);
        results.push(result);
      }
      rounds.push(results);
    }
    await pool.close();

    const out = (line: string) => process.stdout.write(`${line}\n`);
    out(
      `\nbench:auth — concurrency ${CONCURRENCY}; ${ROUNDS} rounds of ${ROUND_SECONDS} s per route, alternating (ABCABC…) after ${WARMUP_SECONDS} s warm-up`,
    );
    out(
      'medians over the rounds; "vs public" is the median of per-round ratios, with its spread\n',
    );
    out(
      `${'route'.padEnd(32)}${'req/s'.padStart(10)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}${'vs public'.padStart(12)}${'spread'.padStart(18)}${'errors'.padStart(8)}`,
    );
    const ratiosOf = (i: number) => rounds.map((r) => r[i].rps / r[0].rps);
    routes.forEach(([label], i) => {
      const of = (pick: (r: Result) => number) => median(rounds.map((r) => pick(r[i])));
      const errors = rounds.reduce((sum, r) => sum + r[i].errors, 0);
      out(
        `${label.padEnd(32)}${of((r) => r.rps)
          .toFixed(0)
          .padStart(10)}${of((r) => r.p50)
          .toFixed(2)
          .padStart(10)}${of((r) => r.p99)
          .toFixed(2)
          .padStart(
            10,
          )}${pct(median(ratiosOf(i))).padStart(12)}${i === 0 ? ''.padStart(18) : spread(ratiosOf(i))}${String(errors).padStart(8)}`,
      );
    });
    const meRatios = ratiosOf(1);
    const meP99 = median(rounds.map((r) => r[1].p99));
    out(
      `\nauthentication cost on /auth/me: ${((1 - median(meRatios)) * 100).toFixed(1)} % of throughput (median; rounds ${((1 - Math.max(...meRatios)) * 100).toFixed(1)}–${((1 - Math.min(...meRatios)) * 100).toFixed(1)} %; target ≤ 25 %); p99 ${meP99.toFixed(1)} ms (target ≤ 30 ms)`,
    );
    out(`per-round /auth/me ÷ public: ${meRatios.map((r) => pct(r)).join('  ')}`);
    out('\nthe app process, per route over its rounds:');
    routes.forEach(([label], i) => out(`${label.padEnd(32)}${meters[i].summary('request')}`));
    await lookupShapes(out);
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
