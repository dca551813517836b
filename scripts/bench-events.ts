import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { Pool } from 'undici';
import WebSocket, { WebSocketServer } from 'ws';
import { ensurePlatformAdmin } from '../src/cli/create-platform-admin';
import { loadLocalEnv, redisConfig, tenancyConfig } from '../src/config';
import {
  BENCH_TRACING,
  freePort,
  median,
  out,
  quantile,
  sleep,
  startSpanCounter,
  TRACE_FLUSH_MS,
  waitReady,
  WorkMeter,
} from './bench-support';

/**
 * `npm run bench:events` (services up): two app processes and, in the same run, two bare `ws`
 * broadcast servers fed by Redis pub/sub. Rounds alternate (ABAB…) and ratios are medians with
 * their spread. Prints:
 *  - ingest: POST /api/v1/events with an API key at concurrency 64 — one tenant (its concurrent
 *    requests share transactions on the tenant's seq counter row) vs the same load over 8
 *    tenants vs GET /health/live, with main-thread CPU per request and RSS of each variant;
 *  - push latency p50/p99 from POST to receipt with 2,000 sockets over two instances, vs a bare
 *    broadcast server (PUBLISH to receipt) with 2,000 sockets over two processes;
 *  - query p95 on 1,000,000 events of one tenant (made once by INSERT … SELECT generate_series):
 *    a filtered page and the stats, over HTTP vs the same SQL sent directly (BENCH_QUERIES=0
 *    skips them).
 */
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ROUND_SECONDS = Number(process.env.BENCH_ROUND_SECONDS ?? 3);
const SOCKETS = Number(process.env.BENCH_SOCKETS ?? 2000);
const PUSH_RATE = Number(process.env.BENCH_PUSH_RATE ?? 8); // events per second during a push round
const MILLION = Number(process.env.BENCH_QUERY_EVENTS ?? 1_000_000);
/** `BENCH_QUERIES=0` skips the query part (and the million events it needs). */
const QUERIES = process.env.BENCH_QUERIES !== '0';
const EMAIL = 'bench-events-admin@bench.tessera.dev';
const PASSWORD = 'Bench-Passw0rd!';
const BARE_CHANNEL = 'bench:bare-broadcast';

type Stats = { rps: number; p50: number; p95: number; p99: number; errors: number; n: number };

const spread = (values: number[]) =>
  `${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)}`;
const summary = (latencies: number[], seconds: number, errors: number): Stats => {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    rps: latencies.length / seconds,
    p50: quantile(sorted, 0.5),
    p95: quantile(sorted, 0.95),
    p99: quantile(sorted, 0.99),
    errors,
    n: sorted.length,
  };
};

/** The bare baseline: a `ws` server that broadcasts every message of one Redis channel. */
function bareServer(port: number): void {
  const wss = new WebSocketServer({ port, host: '127.0.0.1' });
  const redis = new Redis(redisConfig().url);
  void redis.subscribe(BARE_CHANNEL);
  redis.on('message', (_channel: string, message: string) => {
    for (const client of wss.clients) client.send(message);
  });
}

async function json(
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

/** A tenant named `name` (made on first run) and a fresh API key of it. */
async function benchTenant(
  url: string,
  token: string,
  name: string,
): Promise<{ id: string; key: string }> {
  let tenant = await json(url, 'POST', '/api/v1/tenants', token, { name });
  if (tenant.status === 409) {
    let cursor: string | null = null;
    let found: Record<string, unknown> | undefined;
    do {
      const page = await json(
        url,
        'GET',
        `/api/v1/tenants?limit=100${cursor ? `&cursor=${cursor}` : ''}`,
        token,
      );
      found = (page.body.data as Array<Record<string, unknown>>).find((t) => t.name === name);
      cursor = page.body.next_cursor as string | null;
    } while (!found && cursor);
    tenant = { status: 200, body: found! };
  } else if (tenant.status !== 201) {
    throw new Error(`POST /tenants answered ${tenant.status}: ${JSON.stringify(tenant.body)}`);
  }
  const id = tenant.body.id as string;
  const key = await json(url, 'POST', `/api/v1/tenants/${id}/api-keys`, token, {});
  if (key.status !== 201) throw new Error(`API key: ${key.status}`);
  return { id, key: key.body.api_key as string };
}

async function hammer(
  pools: Pool[],
  request: (i: number) => {
    method: 'GET' | 'POST';
    path: string;
    headers: Record<string, string>;
    body?: string;
  },
  seconds: number,
  ok: number,
): Promise<Stats> {
  const latencies: number[] = [];
  let errors = 0;
  let i = 0;
  const deadline = performance.now() + seconds * 1000;
  const worker = async (w: number) => {
    const pool = pools[w % pools.length];
    while (performance.now() < deadline) {
      const started = performance.now();
      const res = await pool.request(request(i++));
      await res.body.dump();
      latencies.push(performance.now() - started);
      if (res.statusCode !== ok) errors++;
    }
  };
  const began = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => worker(w)));
  return summary(latencies, (performance.now() - began) / 1000, errors);
}

async function openSockets(
  urls: string[],
  count: number,
  headers: Record<string, string>,
  onMessage: (data: Buffer) => void,
): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  for (let i = 0; i < count; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, count - i) }, (_, j) => {
        const socket = new WebSocket(urls[(i + j) % urls.length], { headers });
        sockets.push(socket);
        socket.on('message', onMessage);
        return new Promise<void>((resolve, reject) => {
          socket.once('open', () => resolve());
          socket.once('error', reject);
          socket.once('unexpected-response', (_req, res) =>
            reject(new Error(`upgrade answered ${res.statusCode}`)),
          );
        });
      }),
    );
  }
  return sockets;
}

/** Sends PUSH_RATE events a second for ROUND_SECONDS and collects every receipt's latency. */
async function pushRound(
  send: (t0: number) => Promise<void>,
  sink: { latencies: number[]; expect: number },
  sockets: number,
): Promise<Stats & { delivered: number; expected: number }> {
  sink.latencies = [];
  const events = PUSH_RATE * ROUND_SECONDS;
  for (let i = 0; i < events; i++) {
    await send(performance.now());
    await sleep(1000 / PUSH_RATE);
  }
  const expected = events * sockets;
  for (let i = 0; i < 50 && sink.latencies.length < expected; i++) await sleep(100);
  return {
    ...summary(sink.latencies, ROUND_SECONDS, 0),
    delivered: sink.latencies.length,
    expected,
  };
}

function app(port: number, extra: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [join(__dirname, '..', 'src', 'main.js')], {
    env: {
      ...process.env,
      // Untraced unless asked (`extra`), whatever OTEL_* the environment has.
      OTEL_SDK_DISABLED: 'true',
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      NODE_ENV: 'development',
      EVENTS_RATE_LIMIT_POINTS: '100000000',
      AUTH_LOGIN_LIMIT_IP: '100000',
      EVENTS_WS_MAX_SOCKETS_PER_TENANT: '100000',
      EVENTS_WS_MAX_SOCKETS_PER_KEY: '100000',
      ...extra,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** 1,000,000 events of one tenant, over 30 days, made once (a re-run reuses them). */
async function millionEvents(tenantId: string): Promise<{ sql: Client; made: boolean }> {
  const config = tenancyConfig().defaultCluster;
  const sql = new Client({
    host: config.host,
    port: config.port,
    database: config.database,
    user: config.ownerUsername,
    password: config.ownerPassword,
  });
  await sql.connect();
  await sql.query(`select set_config('app.tenant_id', $1, false)`, [tenantId]);
  const have = Number(
    (
      await sql.query<{ n: string }>('select count(*) as n from events where tenant_id = $1', [
        tenantId,
      ])
    ).rows[0].n,
  );
  if (have >= MILLION) return { sql, made: false };
  const started = performance.now();
  await sql.query('begin');
  const head = await sql.query<{ seq: string }>(
    `insert into event_seqs (tenant_id, seq) values ($1, 0)
       on conflict (tenant_id) do update set seq = event_seqs.seq returning seq`,
    [tenantId],
  );
  const base = Number(head.rows[0].seq);
  const missing = MILLION - have;
  await sql.query(
    `insert into events (tenant_id, seq, event_type, source, timestamp, metadata)
     select $1, $2::bigint + g,
            (array['page.view','click','signup','purchase','error','login','logout','search'])[1 + g % 8],
            (array['web','mobile','api'])[1 + g % 3],
            now() - (g::float8 * 2592000 / $3::int) * interval '1 second',
            jsonb_build_object('n', g, 'user', 'u' || (g % 5000), 'path', '/p/' || (g % 300))
       from generate_series(1, $3::int) g`,
    [tenantId, base, missing],
  );
  await sql.query('update event_seqs set seq = $2 where tenant_id = $1', [
    tenantId,
    base + missing,
  ]);
  await sql.query('commit');
  await sql.query('vacuum analyze events'); // what autovacuum does later: index-only scans
  out(
    `query data: ${missing} events generated in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  return { sql, made: true };
}

/** Query p50/p95 on a million events of one tenant over HTTP vs the same SQL; returns the report. */
async function queryBench(
  url: string,
  big: { id: string; key: string },
  onSql: (sql: Client) => void,
): Promise<() => void> {
  // --- queries on 1,000,000 events of one tenant
  const made = await millionEvents(big.id);
  const sql = made.sql;
  onSql(sql);
  // Windows anchored at the newest generated event (a re-run days later queries the same rows).
  const span = (
    await sql.query<{ first: Date; last: Date }>(
      'select min(timestamp) as first, max(timestamp) as last from events where tenant_id = $1',
      [big.id],
    )
  ).rows[0];
  const until = new Date(span.last.getTime() + 1).toISOString();
  const since = new Date(span.last.getTime() - 7 * 86_400_000).toISOString();
  const dayBefore = new Date(span.last.getTime() - 86_400_000).toISOString();
  const inDay = Number(
    (
      await sql.query<{ n: string }>(
        'select count(*) as n from events where tenant_id = $1 and timestamp >= $2 and timestamp < $3',
        [big.id, dayBefore, until],
      )
    ).rows[0].n,
  );
  const pagePath = `/api/v1/events?event_type=purchase&source=web&since=${since}&until=${until}&limit=20`;
  const statsPath = `/api/v1/events/stats?bucket=hour&since=${dayBefore}&until=${until}`;
  const pageSql = `select id, tenant_id, seq, event_type, source, client_event_id, timestamp, metadata, created_at
                     from events where tenant_id = $1 and event_type = 'purchase' and source = 'web'
                      and timestamp >= $2 and timestamp < $3
                    order by timestamp desc, seq desc limit 21`;
  const statsSql = `with cells as materialized (
                      select event_type, date_trunc('hour', timestamp at time zone 'UTC') as bucket, count(*) as count
                        from events where tenant_id = $1 and timestamp >= $2 and timestamp < $3 group by 1, 2)
                    select event_type, null::timestamptz, sum(count) from cells group by event_type
                    union all select null, bucket at time zone 'UTC', sum(count) from cells group by bucket
                    union all select null, null, coalesce(sum(count), 0) from cells`;
  const queryPool = new Pool(url, { connections: 1 });
  const timeHttp = async (path: string, n: number) => {
    const latencies: number[] = [];
    for (let i = 0; i < n; i++) {
      const started = performance.now();
      const res = await queryPool.request({
        method: 'GET',
        path,
        headers: { 'x-api-key': big.key },
      });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`${path} answered ${res.statusCode}`);
      latencies.push(performance.now() - started);
    }
    return summary(latencies, 1, 0);
  };
  const timeSql = async (text: string, params: unknown[], n: number) => {
    const latencies: number[] = [];
    for (let i = 0; i < n; i++) {
      const started = performance.now();
      await sql.query(text, params);
      latencies.push(performance.now() - started);
    }
    return summary(latencies, 1, 0);
  };
  await timeHttp(pagePath, 5);
  await timeHttp(statsPath, 5);
  const query = {
    page: [] as Stats[],
    pageSql: [] as Stats[],
    stats: [] as Stats[],
    statsSql: [] as Stats[],
  };
  for (let r = 0; r < ROUNDS; r++) {
    query.page.push(await timeHttp(pagePath, 20));
    query.pageSql.push(await timeSql(pageSql, [big.id, since, until], 20));
    query.stats.push(await timeHttp(statsPath, 20));
    query.statsSql.push(await timeSql(statsSql, [big.id, dayBefore, until], 20));
  }
  await queryPool.close();

  return () => {
    out(
      `\nqueries on ${MILLION.toLocaleString('en')} events of one tenant over ${((span.last.getTime() - span.first.getTime()) / 86_400_000).toFixed(1)} days (${inDay.toLocaleString('en')} in the stats day)${made.made ? ' — generated this run' : ''}`,
    );
    const qrow = (label: string, s: Stats[]) =>
      out(
        `${label.padEnd(44)}p50 ${median(s.map((x) => x.p50))
          .toFixed(1)
          .padStart(6)} ms  p95 ${median(s.map((x) => x.p95))
          .toFixed(1)
          .padStart(6)} ms`,
      );
    qrow('  GET /events (type+source+7 days, 20)', query.page);
    qrow('  same SQL, direct (baseline)', query.pageSql);
    qrow('  GET /events/stats (one day by hour)', query.stats);
    qrow('  same SQL, direct (baseline)', query.statsSql);
    const pr = query.page.map((x, i) => x.p95 / query.pageSql[i].p95);
    const sr = query.stats.map((x, i) => x.p95 / query.statsSql[i].p95);
    out(
      `  p95 HTTP / SQL: page ${median(pr).toFixed(2)} (${spread(pr)}), stats ${median(sr).toFixed(2)} (${spread(sr)}); target p95 ≤ 50 ms each`,
    );
  };
}

async function main(): Promise<void> {
  loadLocalEnv();
  if (process.argv[2] === '--bare') {
    bareServer(Number(process.argv[3]));
    return;
  }
  const migrate = spawnSync(process.execPath, [join(__dirname, '..', 'src', 'cli', 'migrate.js')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (migrate.status !== 0) throw new Error('npm run migrate failed');

  const ports = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const urls = ports.slice(0, 2).map((p) => `http://127.0.0.1:${p}`);
  const children: ChildProcess[] = [
    app(ports[0]),
    app(ports[1]),
    ...ports.slice(2).map((p) =>
      spawn(process.execPath, [__filename, '--bare', String(p)], {
        stdio: ['ignore', 'ignore', 'inherit'],
      }),
    ),
  ];
  const redis = new Redis(redisConfig().url);
  const sockets: WebSocket[] = [];
  let sql: Client | undefined;
  try {
    await Promise.all(urls.map((url) => waitReady(url, '/health/live', 600)));
    await ensurePlatformAdmin(EMAIL, PASSWORD);
    const login = await fetch(`${urls[0]}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: EMAIL, password: PASSWORD }),
    });
    if (login.status !== 200) throw new Error(`login answered ${login.status}`);
    const { access_token: token } = (await login.json()) as { access_token: string };
    const main = await benchTenant(urls[0], token, 'BenchEvents');
    const spread8 = await Promise.all(
      Array.from({ length: 8 }, (_, i) => benchTenant(urls[0], token, `BenchEvents-${i}`)),
    );
    const big = await benchTenant(urls[0], token, 'BenchEvents1M');

    // --- ingest
    const pools = urls.map((u) => new Pool(u, { connections: CONCURRENCY }));
    const post = (key: string) => (i: number) => ({
      method: 'POST' as const,
      path: '/api/v1/events',
      headers: { 'content-type': 'application/json', 'x-api-key': key },
      body: JSON.stringify({ event_type: 'bench.ingest', metadata: { i } }),
    });
    const live = () => ({ method: 'GET' as const, path: '/health/live', headers: {} });
    await hammer(pools, post(main.key), 2, 201); // warm-up
    const ingest = { one: [] as Stats[], eight: [] as Stats[], bare: [] as Stats[] };
    // The two app instances' main threads, per variant over its own rounds ÷ the answers served.
    const instances = children.slice(0, 2).map((child, i) => ({
      pid: child.pid!,
      metricsUrl: `${urls[i]}/metrics`,
    }));
    const meters = {
      one: new WorkMeter(instances),
      eight: new WorkMeter(instances),
      bare: new WorkMeter(instances),
    };
    const measured = async (variant: keyof typeof meters, run: () => Promise<Stats>) => {
      meters[variant].start();
      const stats = await run();
      await meters[variant].stop(stats.n - stats.errors);
      ingest[variant].push(stats);
    };
    for (let r = 0; r < ROUNDS; r++) {
      await measured('one', () => hammer(pools, post(main.key), ROUND_SECONDS, 201));
      await measured('eight', () =>
        hammer(pools, (i) => post(spread8[i % 8].key)(i), ROUND_SECONDS, 201),
      );
      await measured('bare', () => hammer(pools, live, ROUND_SECONDS, 200));
    }
    await Promise.all(pools.map((p) => p.close()));

    // --- tracing on against off: one instance each (fresh ones: an untraced one, and a traced one
    // exporting every span over OTLP/HTTP to a local receiver that counts them), rounds
    // alternating (ABBA…).
    const tracing: string[] = [];
    if (BENCH_TRACING !== 'off') {
      const counter = await startSpanCounter();
      const tracedPort = await freePort();
      const tracedUrl = `http://127.0.0.1:${tracedPort}`;
      const traced = app(tracedPort, counter.env);
      // A fresh untraced instance too: both start cold and are loaded alike (one that served the
      // rounds above would be warmer, and cheaper per request, for that alone).
      const plainPort = await freePort();
      const plainUrl = `http://127.0.0.1:${plainPort}`;
      const plain = app(plainPort);
      children.push(traced, plain);
      await Promise.all([
        waitReady(tracedUrl, '/health/live', 600),
        waitReady(plainUrl, '/health/live', 600),
      ]);
      const offPool = [new Pool(plainUrl, { connections: CONCURRENCY })];
      const onPool = [new Pool(tracedUrl, { connections: CONCURRENCY })];
      // V8 needs a good while of load to settle: both are loaded as long before the rounds.
      await hammer(offPool, post(main.key), 10, 201);
      const warm = await hammer(onPool, post(main.key), 10, 201);
      const off: Stats[] = [];
      const on: Stats[] = [];
      let tracedRequests = warm.n - warm.errors;
      // Main-thread CPU per request of each process over its own rounds, the export included
      // (each round waits for the last spans to be exported; the untraced one waits as long).
      const offMeter = new WorkMeter({ pid: plain.pid!, metricsUrl: `${plainUrl}/metrics` });
      const onMeter = new WorkMeter({ pid: traced.pid!, metricsUrl: `${tracedUrl}/metrics` });
      const round = async (meter: WorkMeter, pool: Pool[]) => {
        meter.start();
        const stats = await hammer(pool, post(main.key), ROUND_SECONDS, 201);
        await sleep(TRACE_FLUSH_MS);
        await meter.stop(stats.n - stats.errors);
        return stats;
      };
      for (let r = 0; r < ROUNDS; r++) {
        const runOff = async () => off.push(await round(offMeter, offPool));
        const runOn = async () => {
          const stats = await round(onMeter, onPool);
          tracedRequests += stats.n - stats.errors;
          on.push(stats);
        };
        if (r % 2 === 0) {
          await runOff();
          await runOn();
        } else {
          await runOn();
          await runOff();
        }
      }
      await Promise.all([...offPool, ...onPool].map((p) => p.close()));
      // SIGTERM: the app exports what it still buffers before it exits.
      traced.kill('SIGTERM');
      plain.kill('SIGTERM');
      await new Promise<void>((done) =>
        traced.exitCode !== null ? done() : traced.once('exit', () => done()),
      );
      await counter.close();
      const ratios = on.map((x, i) => x.rps / off[i].rps);
      tracing.push(
        `\ningest with tracing (OTLP/HTTP to a local receiver, sampler ${process.env.OTEL_TRACES_SAMPLER ?? 'parentbased_always_on'}${process.env.OTEL_TRACES_SAMPLER_ARG ? ` ${process.env.OTEL_TRACES_SAMPLER_ARG}` : ''}) vs off, one instance each, concurrency ${CONCURRENCY}, ${ROUNDS} alternating rounds (ABBA…)`,
        `  off: ${median(off.map((x) => x.rps)).toFixed(0)} req/s (rounds ${off.map((x) => x.rps.toFixed(0)).join(', ')}), p99 ${median(off.map((x) => x.p99)).toFixed(1)} ms, errors ${off.reduce((s, x) => s + x.errors, 0)}`,
        `  on:  ${median(on.map((x) => x.rps)).toFixed(0)} req/s (rounds ${on.map((x) => x.rps.toFixed(0)).join(', ')}), p99 ${median(on.map((x) => x.p99)).toFixed(1)} ms, errors ${on.reduce((s, x) => s + x.errors, 0)}`,
        `  on ÷ off throughput: ${median(ratios).toFixed(2)} (${spread(ratios)}; target ≥ 0.85); spans exported ${counter.spans()} in ${counter.exports()} exports, ${(counter.spans() / Math.max(1, tracedRequests)).toFixed(1)} per request`,
        `  off: ${offMeter.summary('request')}`,
        `  on:  ${onMeter.summary('request')}`,
        `  capacity on ÷ off (main-thread CPU per request off ÷ on, less sensitive to a busy machine than req/s): ${(offMeter.microsPerUnit / onMeter.microsPerUnit).toFixed(2)}`,
      );
      if (BENCH_TRACING === 'only') {
        for (const line of tracing) out(line);
        return;
      }
    }

    // --- push latency: 2,000 sockets over two app instances vs over two bare servers
    const appSink = { latencies: [] as number[], expect: 0 };
    const bareSink = { latencies: [] as number[], expect: 0 };
    const receipt =
      (sink: { latencies: number[] }, pick: (m: Record<string, unknown>) => unknown) =>
      (raw: Buffer) => {
        const message = JSON.parse(raw.toString()) as Record<string, unknown>;
        const t0 = pick(message);
        if (typeof t0 === 'number') sink.latencies.push(performance.now() - t0);
      };
    const wsUrls = urls.map((u) => u.replace('http', 'ws') + '/api/v1/ws');
    sockets.push(
      ...(await openSockets(
        wsUrls,
        SOCKETS,
        { 'x-api-key': main.key },
        receipt(appSink, (m) =>
          m.type === 'event' ? (m.data as { metadata?: { t0?: number } }).metadata?.t0 : undefined,
        ),
      )),
    );
    sockets.push(
      ...(await openSockets(
        ports.slice(2).map((p) => `ws://127.0.0.1:${p}`),
        SOCKETS,
        {},
        receipt(bareSink, (m) => m.t0),
      )),
    );
    const pushPool = new Pool(urls[0], { connections: 4 });
    const sendApp = async (t0: number) => {
      const res = await pushPool.request({
        method: 'POST',
        path: '/api/v1/events',
        headers: { 'content-type': 'application/json', 'x-api-key': main.key },
        body: JSON.stringify({ event_type: 'bench.push', metadata: { t0 } }),
      });
      await res.body.dump();
    };
    const sendBare = async (t0: number) => {
      await redis.publish(
        BARE_CHANNEL,
        JSON.stringify({ type: 'event', t0, data: { event_type: 'bench.push' } }),
      );
    };
    const push = {
      app: [] as Array<Stats & { delivered: number; expected: number }>,
      bare: [] as Array<Stats & { delivered: number; expected: number }>,
    };
    // Main threads per delivered push: the two app instances vs the two bare servers.
    const pushMeters = {
      app: new WorkMeter(instances),
      bare: new WorkMeter(children.slice(2).map((child) => ({ pid: child.pid! }))),
    };
    for (let r = 0; r < ROUNDS; r++) {
      pushMeters.app.start();
      push.app.push(await pushRound(sendApp, appSink, SOCKETS));
      await pushMeters.app.stop(push.app.at(-1)!.delivered);
      pushMeters.bare.start();
      push.bare.push(await pushRound(sendBare, bareSink, SOCKETS));
      await pushMeters.bare.stop(push.bare.at(-1)!.delivered);
    }
    await pushPool.close();
    for (const socket of sockets) socket.terminate();

    // --- queries on 1,000,000 events of one tenant (BENCH_QUERIES=0 skips them)
    const printQueries = QUERIES
      ? await queryBench(urls[1], big, (client) => (sql = client))
      : () => out('\nqueries skipped (BENCH_QUERIES=0)');

    // --- report
    out(
      `\nbench:events — ${ROUNDS} rounds of ${ROUND_SECONDS} s, alternating (ABAB…); medians, spread over rounds\n`,
    );
    const row = (label: string, s: Stats[]) =>
      out(
        `${label.padEnd(44)}${median(s.map((x) => x.rps))
          .toFixed(0)
          .padStart(8)} req/s  p50 ${median(s.map((x) => x.p50))
          .toFixed(1)
          .padStart(6)} ms  p99 ${median(s.map((x) => x.p99))
          .toFixed(1)
          .padStart(6)} ms  errors ${s.reduce((n, x) => n + x.errors, 0)}`,
      );
    out(`ingest, concurrency ${CONCURRENCY}, API key, two instances`);
    row('  POST /events, one tenant (one seq counter)', ingest.one);
    row('  POST /events, spread over 8 tenants', ingest.eight);
    row('  GET /health/live (bare baseline)', ingest.bare);
    const ratioOne = ingest.one.map((x, i) => x.rps / ingest.bare[i].rps);
    const ratioSeq = ingest.one.map((x, i) => x.rps / ingest.eight[i].rps);
    out(
      `  one tenant / baseline: ${median(ratioOne).toFixed(2)} (${spread(ratioOne)}); one tenant / 8 tenants (the per-tenant seq serialisation): ${median(ratioSeq).toFixed(2)} (${spread(ratioSeq)})`,
    );
    out(`  one tenant, both instances: ${meters.one.summary('request')}`);
    out(`  8 tenants, both instances:  ${meters.eight.summary('request')}`);
    out(`  /health/live, both:         ${meters.bare.summary('request')}`);
    for (const line of tracing) out(line);
    out(`\npush latency, ${SOCKETS} sockets over two instances, ${PUSH_RATE} events/s`);
    const prow = (label: string, s: Array<Stats & { delivered: number; expected: number }>) =>
      out(
        `${label.padEnd(44)}p50 ${median(s.map((x) => x.p50))
          .toFixed(1)
          .padStart(6)} ms  p99 ${median(s.map((x) => x.p99))
          .toFixed(1)
          .padStart(
            6,
          )} ms  delivered ${s.reduce((n, x) => n + x.delivered, 0)}/${s.reduce((n, x) => n + x.expected, 0)}`,
      );
    prow('  POST → receipt (Tessera)', push.app);
    prow('  PUBLISH → receipt (bare ws + Redis)', push.bare);
    out(`  Tessera, both instances: ${pushMeters.app.summary('delivery')}`);
    out(`  bare, both servers:      ${pushMeters.bare.summary('delivery')}`);
    const p99Ratio = push.app.map((x, i) => x.p99 / Math.max(0.001, push.bare[i].p99));
    out(
      `  p99 Tessera / bare: ${median(p99Ratio).toFixed(2)} (${spread(p99Ratio)}); target p99 ≤ 50 ms`,
    );
    printQueries();
  } finally {
    for (const socket of sockets) socket.terminate();
    await sql?.end().catch(() => undefined);
    redis.disconnect();
    for (const child of children) child.kill('SIGTERM');
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench:events failed: ${error instanceof Error ? error.stack : String(error)}\n`,
  );
  process.exit(1);
});
