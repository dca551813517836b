import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Fastify from 'fastify';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { Pool } from 'undici';
import { ensurePlatformAdmin } from '../src/cli/create-platform-admin';
import { loadLocalEnv } from '../src/config';
import { freePort, median, out, quantile, waitReady, WorkMeter } from './bench-support';

/**
 * `npm run bench:location` (builds first; services up). The app runs in its own process with a
 * topic of its own and a local sink as its delivery target; a bare Fastify route that does only
 * the same kafkajs produce (idempotent, acks=all, same topic, one send per request) runs in a
 * second process. At concurrency 64 the two alternate in short rounds (ABAB…); the figure is the
 * median of the per-round ratios Tessera ÷ bare, with its spread. Then: p99 at 70 % of Tessera's
 * peak (open-loop), delivery lag p99 from 202 to the sink at 2,000 updates/s, and the app's RSS.
 */
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const ROUND_SECONDS = Number(process.env.BENCH_ROUND_SECONDS ?? 3);
const LAG_RATE = Number(process.env.BENCH_LAG_RATE ?? 2000);
const SESSIONS = 8;
const EMAIL = 'bench-admin@bench.tessera.dev';
const PASSWORD = 'Bench-Passw0rd!';

interface Result {
  rps: number;
  requests: number;
  p50: number;
  p99: number;
  errors: number;
}

/** The baseline process: POST /produce does one kafkajs send (acks=all) and answers 202. */
async function bare(port: number, topic: string): Promise<void> {
  loadLocalEnv();
  const kafka = new Kafka({
    clientId: 'bench-bare',
    brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
    logLevel: logLevel.NOTHING,
  });
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 5,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  const app = Fastify();
  app.get('/ready', () => ({ ok: true }));
  app.post('/produce', async (req, reply) => {
    const body = req.body as { session_id: string };
    const eventId = randomUUID();
    await producer.send({
      topic,
      acks: -1,
      messages: [
        {
          key: body.session_id,
          value: JSON.stringify({ ...body, event_id: eventId }),
          headers: { 'x-event-id': eventId },
        },
      ],
    });
    return reply.status(202).send({ event_id: eventId, status: 'accepted' });
  });
  await app.listen({ port, host: '127.0.0.1' });
}

type Body = () => string;

/** Closed loop: CONCURRENCY workers, each waiting for its answer. */
async function load(
  pool: Pool,
  path: string,
  headers: Record<string, string>,
  body: Body,
  seconds: number,
): Promise<Result> {
  const latencies: number[] = [];
  let errors = 0;
  const deadline = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < deadline) {
      const started = performance.now();
      const res = await pool.request({ method: 'POST', path, headers, body: body() });
      await res.body.dump();
      latencies.push(performance.now() - started);
      if (res.statusCode !== 202) errors++;
    }
  };
  const began = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const elapsed = (performance.now() - began) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    rps: latencies.length / elapsed,
    requests: latencies.length,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    errors,
  };
}

/** Open loop at `rate`/s: latencies, and each accepted event's 202 time. */
async function paced(
  pool: Pool,
  path: string,
  headers: Record<string, string>,
  body: Body,
  rate: number,
  seconds: number,
): Promise<{ latencies: number[]; errors: number; acceptedAt: Map<string, number> }> {
  const latencies: number[] = [];
  const acceptedAt = new Map<string, number>();
  let errors = 0;
  let inFlight = 0;
  const pending: Promise<void>[] = [];
  const began = performance.now();
  let sent = 0;
  while (performance.now() - began < seconds * 1000) {
    const due = Math.floor(((performance.now() - began) / 1000) * rate);
    while (sent < due && inFlight < 2_000) {
      sent++;
      inFlight++;
      const started = performance.now();
      pending.push(
        pool
          .request({ method: 'POST', path, headers, body: body() })
          .then(async (res) => {
            const text = await res.body.text();
            const now = performance.now();
            latencies.push(now - started);
            if (res.statusCode === 202) {
              acceptedAt.set((JSON.parse(text) as { event_id: string }).event_id, now);
            } else errors++;
          })
          .catch(() => {
            errors++;
          })
          .finally(() => inFlight--),
      );
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  await Promise.all(pending);
  latencies.sort((a, b) => a - b);
  return { latencies, errors, acceptedAt };
}

async function call(
  url: string,
  method: string,
  path: string,
  token: string,
  body?: object,
  extra: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${token}`,
      ...extra,
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function login(url: string, email: string, tenantId?: string): Promise<string> {
  const res = await fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      email,
      password: PASSWORD,
      new_password: PASSWORD,
      ...(tenantId ? { tenant_id: tenantId } : {}),
    }),
  });
  if (res.status !== 200) throw new Error(`login answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** SESSIONS new users (of this run) of the tenant "Bench Location", each with an active session. */
async function sessions(
  url: string,
  adminToken: string,
  run: string,
): Promise<{ tenantId: string; callers: Array<{ token: string; sessionId: string }> }> {
  let tenant = await call(url, 'POST', '/api/v1/tenants', adminToken, { name: 'Bench Location' });
  if (tenant.status === 409) {
    const list = await call(url, 'GET', '/api/v1/tenants?limit=100', adminToken);
    tenant = {
      status: 200,
      body: (list.body.data as { name: string }[]).find((t) => t.name === 'Bench Location')!,
    };
  }
  const tenantId = tenant.body.id as string;
  const callers: Array<{ token: string; sessionId: string }> = [];
  for (let i = 0; i < SESSIONS; i++) {
    const email = `bench-location-${run}-${i}@bench.tessera.dev`;
    await call(url, 'POST', `/api/v1/tenants/${tenantId}/users`, adminToken, {
      email,
      role: 'user',
      temporary_password: PASSWORD,
    });
    const token = await login(url, email, tenantId);
    const started = await call(url, 'POST', '/api/v1/location/session/start', token, {
      duration_seconds: 3600,
    });
    if (started.status !== 201)
      throw new Error(`session/start answered ${started.status}: ${JSON.stringify(started.body)}`);
    callers.push({ token, sessionId: started.body.id as string });
  }
  return { tenantId, callers };
}

function rssMb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return kb / 1024;
  } catch {
    return 0;
  }
}

async function main(): Promise<void> {
  if (process.argv[2] === '--bare') {
    await bare(Number(process.argv[3]), process.argv[4]);
    return;
  }
  loadLocalEnv();
  const suffix = randomUUID().slice(0, 8);
  const topic = `bench.location.${suffix}`;

  // The third party: records when each update arrived.
  const arrivedAt = new Map<string, number>();
  const sink = createHttpServer((req, res) => {
    const key = String(req.headers['idempotency-key'] ?? '');
    req.resume();
    req.on('end', () => {
      if (!arrivedAt.has(key)) arrivedAt.set(key, performance.now());
      res.writeHead(200).end();
    });
  });
  const sinkPort = await freePort();
  await new Promise<void>((r) => sink.listen(sinkPort, '127.0.0.1', r));

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const app = spawn(process.execPath, [join(__dirname, '..', 'src', 'main.js')], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      NODE_ENV: 'development',
      AUTH_LOGIN_LIMIT_IP: process.env.AUTH_LOGIN_LIMIT_IP ?? '100000',
      LOCATION_TOPIC: topic,
      LOCATION_DLQ_TOPIC: `${topic}.dlq`,
      LOCATION_GROUP_PREFIX: `bench-location-${suffix}`,
      LOCATION_DELIVERY_ALLOWED_HOSTS: `127.0.0.1:${sinkPort}`,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const barePort = await freePort();
  const bareUrl = `http://127.0.0.1:${barePort}`;
  const baseline = spawn(process.execPath, [__filename, '--bare', String(barePort), topic], {
    env: process.env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    await Promise.all([waitReady(url, '/health/live'), waitReady(bareUrl, '/ready')]);
    await ensurePlatformAdmin(EMAIL, PASSWORD);
    const adminToken = await login(url, EMAIL);
    const { tenantId, callers } = await sessions(url, adminToken, suffix);
    const delivery = await call(
      url,
      'PUT',
      '/api/v1/location/delivery',
      adminToken,
      { endpoint_url: `http://127.0.0.1:${sinkPort}/hook` },
      { 'x-tenant-id': tenantId },
    );
    if (delivery.status !== 200)
      throw new Error(`PUT /location/delivery answered ${delivery.status}`);

    let next = 0;
    const headersOf = (i: number) => ({
      'content-type': 'application/json',
      authorization: `Bearer ${callers[i].token}`,
    });
    // Each worker request picks the next session (several partitions, several users).
    const bodyFor = () => {
      const i = next++ % callers.length;
      return JSON.stringify({
        session_id: callers[i].sessionId,
        latitude: 52.52 + (next % 100) / 1000,
        longitude: 13.4,
        accuracy: 5,
      });
    };
    // Tessera authenticates per user: requests of one worker use one user's token and session.
    const tesseraPool = new Pool(url, { connections: CONCURRENCY });
    const barePool = new Pool(bareUrl, { connections: CONCURRENCY });
    const perUser = callers.map((_, i) => ({
      headers: headersOf(i),
      body: () =>
        JSON.stringify({
          session_id: callers[i].sessionId,
          latitude: 52.52 + Math.random() / 100,
          longitude: 13.4,
          accuracy: 5,
        }),
    }));
    const tessera = async (seconds: number): Promise<Result> => {
      // CONCURRENCY workers spread over the users.
      const parts = await Promise.all(
        perUser.map((u) =>
          loadShare(tesseraPool, '/api/v1/location/update', u.headers, u.body, seconds),
        ),
      );
      return merge(parts);
    };
    const loadShare = (
      pool: Pool,
      path: string,
      headers: Record<string, string>,
      body: Body,
      seconds: number,
    ) => loadN(pool, path, headers, body, seconds, CONCURRENCY / perUser.length);
    const bareLoad = (seconds: number) =>
      load(barePool, '/produce', { 'content-type': 'application/json' }, bodyFor, seconds);

    await tessera(2);
    await bareLoad(2);
    const rounds: Array<{ t: Result; b: Result }> = [];
    let peakRss = 0;
    const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, rssMb(app.pid!))), 250);
    // Each process's main thread over its own rounds ÷ the updates it accepted in them.
    const tesseraMeter = new WorkMeter({ pid: app.pid!, metricsUrl: `${url}/metrics` });
    const bareMeter = new WorkMeter({ pid: baseline.pid! });
    for (let round = 0; round < ROUNDS; round++) {
      tesseraMeter.start();
      const t = await tessera(ROUND_SECONDS);
      await tesseraMeter.stop(t.requests - t.errors);
      bareMeter.start();
      const b = await bareLoad(ROUND_SECONDS);
      await bareMeter.stop(b.requests - b.errors);
      rounds.push({ t, b });
    }
    const peak = median(rounds.map((r) => r.t.rps));

    // p99 at 70 % of the peak, open loop, round-robin over the users.
    const pacedPool = tesseraPool;
    const at70 = await pacedMulti(pacedPool, perUser, 0.7 * peak, 5);
    // Delivery lag at LAG_RATE/s (or 90 % of the peak when the peak is below it).
    const lagRate = Math.min(LAG_RATE, 0.9 * peak);
    arrivedAt.clear();
    const lagRun = await pacedMulti(pacedPool, perUser, lagRate, 5);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      let missing = 0;
      for (const id of lagRun.acceptedAt.keys()) if (!arrivedAt.has(id)) missing++;
      if (missing === 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    clearInterval(rssTimer);
    const lags: number[] = [];
    let undelivered = 0;
    for (const [id, at] of lagRun.acceptedAt) {
      const arrived = arrivedAt.get(id);
      if (arrived === undefined) undelivered++;
      else lags.push(Math.max(0, arrived - at));
    }
    lags.sort((a, b) => a - b);
    await tesseraPool.close();
    await barePool.close();

    const ratios = rounds.map((r) => r.t.rps / r.b.rps);
    const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
    out(
      `\nbench:location — POST /location/update, concurrency ${CONCURRENCY} over ${SESSIONS} users/sessions; ${ROUNDS} rounds of ${ROUND_SECONDS} s, alternating with the bare route (ABAB…)\n`,
    );
    out(
      `${'route'.padEnd(46)}${'req/s'.padStart(9)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'errors'.padStart(8)}`,
    );
    const row = (label: string, pick: (r: { t: Result; b: Result }) => Result) => {
      const of = (f: (r: Result) => number) => median(rounds.map((r) => f(pick(r))));
      out(
        `${label.padEnd(46)}${of((r) => r.rps)
          .toFixed(0)
          .padStart(9)}${of((r) => r.p50)
          .toFixed(2)
          .padStart(9)}${of((r) => r.p99)
          .toFixed(2)
          .padStart(9)}${String(rounds.reduce((s, r) => s + pick(r).errors, 0)).padStart(8)}`,
      );
    };
    row('Tessera POST /api/v1/location/update', (r) => r.t);
    row('bare Fastify + kafkajs send (acks=all)', (r) => r.b);
    out(
      `\nTessera ÷ bare: ${pct(median(ratios))} median (rounds ${pct(Math.min(...ratios))}–${pct(Math.max(...ratios))}; target ≥ 80 %)`,
    );
    out(`per round: ${ratios.map(pct).join('  ')}`);
    out(`Tessera, its rounds: ${tesseraMeter.summary('update')} (target ≤ 250 µs)`);
    out(`bare, its rounds:    ${bareMeter.summary('update')}`);
    out(
      `p99 at 70 % of peak (${(0.7 * peak).toFixed(0)} req/s open loop, 5 s): ${quantile(at70.latencies, 0.99).toFixed(2)} ms, p50 ${quantile(at70.latencies, 0.5).toFixed(2)} ms, errors ${at70.errors} (target p99 ≤ 25 ms)`,
    );
    out(
      `delivery lag 202 → sink at ${lagRate.toFixed(0)} updates/s (5 s): p50 ${quantile(lags, 0.5).toFixed(1)} ms, p99 ${quantile(lags, 0.99).toFixed(1)} ms, max ${(lags.at(-1) ?? 0).toFixed(1)} ms; delivered ${lags.length}/${lagRun.acceptedAt.size}, undelivered ${undelivered} (target p99 ≤ 300 ms)`,
    );
    out(`app RSS under load: peak ${peakRss.toFixed(0)} MB (target ≤ 300 MB)`);
  } finally {
    app.kill('SIGTERM');
    baseline.kill('SIGTERM');
    sink.close();
  }
}

/** `workers` closed-loop workers with fixed headers/body (one user's share). */
async function loadN(
  pool: Pool,
  path: string,
  headers: Record<string, string>,
  body: Body,
  seconds: number,
  workers: number,
): Promise<Result & { latencies: number[] }> {
  const latencies: number[] = [];
  let errors = 0;
  const deadline = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < deadline) {
      const started = performance.now();
      const res = await pool.request({ method: 'POST', path, headers, body: body() });
      await res.body.dump();
      latencies.push(performance.now() - started);
      if (res.statusCode !== 202) errors++;
    }
  };
  const began = performance.now();
  await Promise.all(Array.from({ length: Math.max(1, Math.round(workers)) }, worker));
  const elapsed = (performance.now() - began) / 1000;
  return {
    rps: latencies.length / elapsed,
    requests: latencies.length,
    p50: 0,
    p99: 0,
    errors,
    latencies,
  };
}

function merge(parts: Array<Result & { latencies: number[] }>): Result {
  const latencies = parts.flatMap((p) => p.latencies).sort((a, b) => a - b);
  return {
    rps: parts.reduce((s, p) => s + p.rps, 0),
    requests: latencies.length,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    errors: parts.reduce((s, p) => s + p.errors, 0),
  };
}

/** Open loop at `rate`/s spread evenly over the users. */
async function pacedMulti(
  pool: Pool,
  users: Array<{ headers: Record<string, string>; body: Body }>,
  rate: number,
  seconds: number,
) {
  const runs = await Promise.all(
    users.map((u) =>
      paced(pool, '/api/v1/location/update', u.headers, u.body, rate / users.length, seconds),
    ),
  );
  const latencies = runs.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const acceptedAt = new Map<string, number>();
  for (const r of runs) for (const [k, v] of r.acceptedAt) acceptedAt.set(k, v);
  return { latencies, errors: runs.reduce((s, r) => s + r.errors, 0), acceptedAt };
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench:location failed: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
