import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { performance } from 'node:perf_hooks';
import Fastify from 'fastify';
import { Kafka, logLevel, type Message, Partitioners } from 'kafkajs';
import { Pool } from 'undici';
import { ensurePlatformAdmin } from '../src/cli/create-platform-admin';
import { kafkaConfig, loadLocalEnv } from '../src/config';
import { createTopicsReady } from '../src/shared/kafka/kafka-topics';
import {
  alternate,
  freePort,
  metricSum,
  productionNodeOptions,
  spawnBuiltApp,
  median,
  out,
  quantile,
  sleep,
  waitReady,
  WorkMeter,
  apiCall,
  benchLogin,
  BENCH_PASSWORD,
  BENCH_TRACING,
  startSpanCounter,
  TRACE_FLUSH_MS,
} from './bench-support';

/**
 * `npm run bench:location` (builds first; services up). The app runs in its own process
 * (TESSERA_ROLE=all) with a topic of its own and a local sink as its delivery target; a bare
 * Fastify route that does only the same kafkajs produce, batched the way the app batches
 * (LOCATION_BATCH_LINGER_MS, LOCATION_BATCH_MAX, LOCATION_PRODUCE_IN_FLIGHT), to a topic of its
 * own, runs in a second process. At concurrency 64 the two alternate in short rounds (ABAB…); the
 * figure is the median of the per-round ratios Tessera ÷ bare, with its spread. Then: p99 at 70 %
 * of Tessera's peak (open loop), delivery lag p99 from 202 to the sink at LAG_RATE updates/s, and
 * one process (`all`) against two (`api` + `worker`) in alternating rounds. Every phase starts only
 * once the sink has received every update accepted before it (or nothing arrived for 5 s), so no
 * figure is taken over an earlier phase's backlog; how long each drain took is printed.
 */
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const ROUND_SECONDS = Number(process.env.BENCH_ROUND_SECONDS ?? 3);
const LAG_RATE = Number(process.env.BENCH_LAG_RATE ?? 2000);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 5);
const ROLE_ROUNDS = Number(process.env.BENCH_ROLE_ROUNDS ?? 3);
const ROLE_SECONDS = Number(process.env.BENCH_ROLE_SECONDS ?? 5);
/** A drain that delivers nothing for this long is given up (and its shortfall printed). */
const STALL_MS = 5_000;
const SESSIONS = 8;
const EMAIL = 'bench-admin@bench.tessera.dev';

interface Result {
  rps: number;
  requests: number;
  p50: number;
  p99: number;
  errors: number;
}

/**
 * The baseline process: POST /produce hands one record to a coalescing batcher that sends like
 * the app's producer (linger, batch size and produce requests in flight from the same variables),
 * with an idempotent producer and acks=all, and answers 202 once its record's batch is acked.
 */
async function bare(port: number, topic: string): Promise<void> {
  loadLocalEnv();
  const config = kafkaConfig();
  const lingerMs = Number(process.env.LOCATION_BATCH_LINGER_MS ?? 2);
  const batchMax = Number(process.env.LOCATION_BATCH_MAX ?? 500);
  const inFlightMax = Number(process.env.LOCATION_PRODUCE_IN_FLIGHT ?? 1);
  const kafka = new Kafka({
    clientId: 'bench-bare',
    brokers: config.brokers,
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  await createTopicsReady(admin, [
    {
      topic,
      numPartitions: config.topicPartitions,
      replicationFactor: config.replicationFactor,
    },
  ]);
  await admin.disconnect();
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 5,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();

  type Waiting = { message: Message; resolve: () => void; reject: (error: unknown) => void };
  const waiting: Waiting[] = [];
  let timer: NodeJS.Timeout | null = null;
  let inFlight = 0;
  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    while (waiting.length > 0 && inFlight < inFlightMax) {
      const batch = waiting.splice(0, batchMax);
      inFlight++;
      producer
        .send({ topic, acks: -1, messages: batch.map((w) => w.message) })
        .then(
          () => batch.forEach((w) => w.resolve()),
          (error: unknown) => batch.forEach((w) => w.reject(error)),
        )
        .finally(() => {
          inFlight--;
          if (waiting.length > 0) flush();
        });
    }
  };
  const produce = (message: Message) =>
    new Promise<void>((resolve, reject) => {
      waiting.push({ message, resolve, reject });
      if (inFlight >= inFlightMax) return; // sent as one batch when a request returns
      if (waiting.length >= batchMax || lingerMs === 0) flush();
      else timer ??= setTimeout(flush, lingerMs);
    });

  const app = Fastify();
  app.get('/ready', () => ({ ok: true }));
  app.post('/produce', async (req, reply) => {
    const body = req.body as { session_id: string };
    const eventId = randomUUID();
    await produce({
      key: body.session_id,
      value: JSON.stringify({ ...body, event_id: eventId }),
      headers: { 'x-event-id': eventId },
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

/**
 * A tenant of this run ("Bench Location <run>", deleted at the end: one made by an earlier run
 * may have lost its database secret since, as the local AWS emulator keeps secrets in memory)
 * with SESSIONS users, each with an active session.
 */
async function sessions(
  url: string,
  adminToken: string,
  run: string,
  onCreated: (tenantId: string) => void,
): Promise<{ tenantId: string; callers: Array<{ token: string; sessionId: string }> }> {
  const tenant = await apiCall(url, 'POST', '/api/v1/tenants', adminToken, {
    name: `Bench Location ${run}`,
  });
  if (tenant.status !== 201) throw new Error(`POST /tenants answered ${tenant.status}`);
  const tenantId = tenant.body.id as string;
  onCreated(tenantId);
  const callers: Array<{ token: string; sessionId: string }> = [];
  for (let i = 0; i < SESSIONS; i++) {
    const email = `bench-location-${run}-${i}@bench.tessera.dev`;
    await apiCall(url, 'POST', `/api/v1/tenants/${tenantId}/users`, adminToken, {
      email,
      role: 'user',
      temporary_password: BENCH_PASSWORD,
    });
    const token = await benchLogin(url, email, tenantId);
    const started = await apiCall(url, 'POST', '/api/v1/location/session/start', token, {
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

type Role = 'all' | 'api' | 'worker';

/** The built app in a child process with TESSERA_ROLE=`role`, on `topic` (its groups: `group`). */
function spawnApp(
  role: Role,
  port: number,
  topic: string,
  group: string,
  sinkPort: number,
  extra: Record<string, string> = {},
): ChildProcess {
  const background = String(role !== 'api');
  return spawnBuiltApp(port, {
    TESSERA_ROLE: role,
    // Explicit, so a local .env that sets a flag cannot blur the roles.
    LOCATION_CONSUMERS_ENABLED: background,
    LOCATION_WORKERS_ENABLED: background,
    MESSAGING_WORKERS_ENABLED: background,
    AUTH_LOGIN_LIMIT_IP: process.env.AUTH_LOGIN_LIMIT_IP ?? '100000',
    LOCATION_TOPIC: topic,
    LOCATION_DLQ_TOPIC: `${topic}.dlq`,
    LOCATION_GROUP_PREFIX: group,
    LOCATION_DELIVERY_ALLOWED_HOSTS: `127.0.0.1:${sinkPort}`,
    // Untraced unless asked (`extra`), whatever OTEL_* the environment has.
    OTEL_SDK_DISABLED: 'true',
    // As the image runs it (its heap bounds), unless BENCH_NODE_OPTIONS says otherwise.
    NODE_OPTIONS: productionNodeOptions(),
    ...extra,
  });
}

async function main(): Promise<void> {
  if (process.argv[2] === '--bare') {
    await bare(Number(process.argv[3]), process.argv[4]);
    return;
  }
  loadLocalEnv();
  const suffix = randomUUID().slice(0, 8);
  // Topics and groups of this run only (deleted at the end): no other process reads them.
  const topic = `bench.location.${suffix}`;
  const splitTopic = `${topic}.split`;
  const bareTopic = `${topic}.bare`;
  const tracedTopic = `${topic}.traced`;

  // The third party: records when each update arrived (first delivery of each event id).
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
  const app = spawnApp('all', port, topic, `bench-location-${suffix}`, sinkPort);
  const barePort = await freePort();
  const bareUrl = `http://127.0.0.1:${barePort}`;
  const baseline = spawn(process.execPath, [__filename, '--bare', String(barePort), bareTopic], {
    env: process.env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const children: ChildProcess[] = [app, baseline];
  const machine = canary();
  /** Deletes this run's tenant (through the first app, alive until the end). */
  let cleanup: () => Promise<unknown> = () => Promise.resolve();
  // Updates answered 202 so far (every one must reach the sink).
  let accepted = 0;
  const drains: Array<{ phase: string; ms: number; missing: number }> = [];
  /** Waits until the sink has every accepted update, or nothing arrived for STALL_MS. */
  const quiet = async (phase: string) => {
    const began = performance.now();
    let last = -1;
    let changedAt = began;
    while (arrivedAt.size < accepted) {
      if (arrivedAt.size !== last) [last, changedAt] = [arrivedAt.size, performance.now()];
      else if (performance.now() - changedAt > STALL_MS) break;
      await sleep(50);
    }
    const drain = {
      phase,
      ms: performance.now() - began,
      missing: Math.max(0, accepted - arrivedAt.size),
    };
    drains.push(drain);
    return drain;
  };
  try {
    await Promise.all([waitReady(url, '/health/live'), waitReady(bareUrl, '/ready')]);
    await ensurePlatformAdmin(EMAIL, BENCH_PASSWORD);
    const adminToken = await benchLogin(url, EMAIL);
    const { tenantId, callers } = await sessions(url, adminToken, suffix, (id) => {
      cleanup = () => apiCall(url, 'DELETE', `/api/v1/tenants/${id}`, adminToken);
    });
    const delivery = await apiCall(
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
    // CONCURRENCY workers spread over the users.
    const tesseraOn = async (pool: Pool, seconds: number): Promise<Result> => {
      const parts = await Promise.all(
        perUser.map((u) =>
          loadN(
            pool,
            '/api/v1/location/update',
            u.headers,
            u.body,
            seconds,
            CONCURRENCY / perUser.length,
          ),
        ),
      );
      const result = merge(parts);
      accepted += result.requests - result.errors;
      return result;
    };
    const tessera = (seconds: number) => tesseraOn(tesseraPool, seconds);
    const bareLoad = (seconds: number) =>
      load(barePool, '/produce', { 'content-type': 'application/json' }, bodyFor, seconds);

    /**
     * Tracing on against off: the same app in a second process with every span exported over
     * OTLP/HTTP to a local receiver that counts them (on a topic of its own), rounds alternating
     * (ABBA…) with the untraced app, each drained before the next.
     */
    async function tracingRounds(): Promise<string[]> {
      const counter = await startSpanCounter();
      const tracedPort = await freePort();
      const tracedUrl = `http://127.0.0.1:${tracedPort}`;
      const traced = spawnApp(
        'all',
        tracedPort,
        tracedTopic,
        `bench-location-${suffix}-traced`,
        sinkPort,
        counter.env,
      );
      children.push(traced);
      await waitReady(tracedUrl, '/health/ready');
      const tracedPool = new Pool(tracedUrl, { connections: CONCURRENCY });
      let tracedUpdates = 0;
      const off: Result[] = [];
      const on: Result[] = [];
      // Main-thread CPU per update of each process from its round's load until the sink has
      // every update and the last spans were exported (the untraced round waits as long).
      const offMeter = new WorkMeter({ pid: app.pid!, metricsUrl: `${url}/metrics` });
      const onMeter = new WorkMeter({ pid: traced.pid!, metricsUrl: `${tracedUrl}/metrics` });
      const runOff = async (label: string) => {
        offMeter.start();
        const result = await tessera(ROUND_SECONDS);
        await quiet(`tracing off, ${label}`);
        await sleep(TRACE_FLUSH_MS);
        await offMeter.stop(result.requests - result.errors);
        off.push(result);
      };
      const runOn = async (label: string) => {
        onMeter.start();
        const result = await tesseraOn(tracedPool, ROUND_SECONDS);
        await quiet(`tracing on, ${label}`);
        await sleep(TRACE_FLUSH_MS);
        await onMeter.stop(result.requests - result.errors);
        tracedUpdates += result.requests - result.errors;
        on.push(result);
      };
      await tessera(WARMUP_SECONDS);
      const warm = await tesseraOn(tracedPool, WARMUP_SECONDS);
      tracedUpdates += warm.requests - warm.errors;
      await quiet('tracing warm-up');
      await alternate(
        ROUNDS,
        (round) => runOff(`round ${round + 1}`),
        (round) => runOn(`round ${round + 1}`),
      );
      await tracedPool.close();
      // SIGTERM: the app exports what it still buffers before it exits.
      traced.kill('SIGTERM');
      await exited(traced);
      await counter.close();
      const ratios = on.map((r, i) => r.rps / off[i].rps);
      const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
      return [
        `\ntracing (OTLP/HTTP to a local receiver, sampler ${process.env.OTEL_TRACES_SAMPLER ?? 'parentbased_always_on'}${process.env.OTEL_TRACES_SAMPLER_ARG ? ` ${process.env.OTEL_TRACES_SAMPLER_ARG}` : ''}) vs off: ${ROUNDS} alternating rounds (ABBA…) of ${ROUND_SECONDS} s at concurrency ${CONCURRENCY}`,
        `  off: ${median(off.map((r) => r.rps)).toFixed(0)} req/s (rounds ${off.map((r) => r.rps.toFixed(0)).join(', ')}), p99 ${median(off.map((r) => r.p99)).toFixed(1)} ms, errors ${off.reduce((s, r) => s + r.errors, 0)}`,
        `  on:  ${median(on.map((r) => r.rps)).toFixed(0)} req/s (rounds ${on.map((r) => r.rps.toFixed(0)).join(', ')}), p99 ${median(on.map((r) => r.p99)).toFixed(1)} ms, errors ${on.reduce((s, r) => s + r.errors, 0)}`,
        `  on ÷ off throughput: ${pct(median(ratios))} median (rounds ${pct(Math.min(...ratios))}–${pct(Math.max(...ratios))}; target ≥ 85 %); spans exported ${counter.spans()} in ${counter.exports()} exports, ${(counter.spans() / Math.max(1, tracedUpdates)).toFixed(1)} per update (HTTP, produce, persist, stream, deliver)`,
        `  off: ${offMeter.summary('update')}`,
        `  on:  ${onMeter.summary('update')}`,
        `  capacity on ÷ off (main-thread CPU per update, HTTP to delivery, off ÷ on; less sensitive to a busy machine than req/s): ${pct(offMeter.microsPerUnit / onMeter.microsPerUnit)}`,
      ];
    }

    const tracing = BENCH_TRACING === 'off' ? [] : await tracingRounds();
    if (BENCH_TRACING === 'only') {
      for (const line of tracing) out(line);
      await Promise.all([tesseraPool.close(), barePool.close()]);
      return;
    }

    await tessera(WARMUP_SECONDS);
    await quiet('warm-up');
    await bareLoad(WARMUP_SECONDS);
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
      // The app's consumers finish this round's deliveries before the bare round (and the next).
      await quiet(`round ${round + 1}`);
      bareMeter.start();
      const b = await bareLoad(ROUND_SECONDS);
      await bareMeter.stop(b.requests - b.errors);
      rounds.push({ t, b });
    }
    const peak = median(rounds.map((r) => r.t.rps));

    // p99 at 70 % of the peak, open loop, round-robin over the users; with the main thread's
    // event-loop delay over the same 5 s (what a request waits behind, whatever its own work).
    await Promise.all([loopDelay(`${url}/metrics`), machine.read()]); // resets the histograms
    const at70 = await pacedMulti(tesseraPool, perUser, 0.7 * peak, 5);
    const at70Loop = await loopDelay(`${url}/metrics`);
    const at70Idle = await machine.read();
    accepted += at70.acceptedAt.size;
    await quiet('p99 at 70 %');
    // Delivery lag at LAG_RATE/s, whatever the closed-loop peak: the target is at that rate.
    const lagRun = await pacedMulti(tesseraPool, perUser, LAG_RATE, 5);
    accepted += lagRun.acceptedAt.size;
    await quiet('lag');
    clearInterval(rssTimer);
    const lags: number[] = [];
    let undelivered = 0;
    for (const [id, at] of lagRun.acceptedAt) {
      const arrived = arrivedAt.get(id);
      if (arrived === undefined) undelivered++;
      else lags.push(Math.max(0, arrived - at));
    }
    lags.sort((a, b) => a - b);
    await barePool.close();
    baseline.kill('SIGTERM');

    // One process (all) against two (api + worker), alternating, on topics of their own.
    const apiPort = await freePort();
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const workerPort = await freePort();
    const workerUrl = `http://127.0.0.1:${workerPort}`;
    const splitGroup = `bench-location-${suffix}-split`;
    const apiApp = spawnApp('api', apiPort, splitTopic, splitGroup, sinkPort);
    const workerApp = spawnApp('worker', workerPort, splitTopic, splitGroup, sinkPort);
    children.push(apiApp, workerApp);
    await Promise.all([waitReady(apiUrl, '/health/ready'), waitReady(workerUrl, '/health/ready')]);
    // The worker's streamer has joined its group (the api reports it running elsewhere).
    for (let i = 0; i < 150; i++) {
      const health = await apiCall(apiUrl, 'GET', '/api/v1/streaming/health', adminToken);
      if (health.status === 200) break;
      await sleep(200);
    }
    const apiPool = new Pool(apiUrl, { connections: CONCURRENCY });
    // The api process starts cold while the all process has served every phase so far (V8 takes
    // tens of seconds of load to reach its steady state on a busy machine): the api process is
    // loaded as long before the rounds start.
    const allLoaded = 2 * WARMUP_SECONDS + ROUNDS * ROUND_SECONDS + 10;
    await tesseraOn(apiPool, allLoaded);
    await quiet('split warm-up');
    // CPU from the load's start until the sink has it all: the whole pipeline's cost per update.
    const allMeter = new WorkMeter({ pid: app.pid!, metricsUrl: `${url}/metrics` });
    const apiMeter = new WorkMeter({ pid: apiApp.pid!, metricsUrl: `${apiUrl}/metrics` });
    const workerMeter = new WorkMeter({ pid: workerApp.pid!, metricsUrl: `${workerUrl}/metrics` });
    // What each process's main thread spends with no load (timers, polls, heartbeats): part of
    // every per-update figure below, shown so the reader can take it out.
    const idle = async (pid: number) => {
      const meter = new WorkMeter({ pid });
      meter.start();
      await sleep(3_000);
      await meter.stop(3);
      return meter.microsPerUnit / 1000; // ms per second
    };
    const [idleAll, idleApi, idleWorker] = await Promise.all([
      idle(app.pid!),
      idle(apiApp.pid!),
      idle(workerApp.pid!),
    ]);
    const one: Array<Result & { drainMs: number }> = [];
    const two: Array<Result & { drainMs: number }> = [];
    const peaks = { all: 0, api: 0, worker: 0 };
    const sampler = setInterval(() => {
      peaks.all = Math.max(peaks.all, rssMb(app.pid!));
      peaks.api = Math.max(peaks.api, rssMb(apiApp.pid!));
      peaks.worker = Math.max(peaks.worker, rssMb(workerApp.pid!));
    }, 250);
    const runAll = async (round: number) => {
      allMeter.start();
      const a = await tessera(ROLE_SECONDS);
      const drain = await quiet(`all, round ${round + 1}`);
      await allMeter.stop(a.requests - a.errors);
      one.push({ ...a, drainMs: drain.ms });
    };
    const runSplit = async (round: number) => {
      apiMeter.start();
      workerMeter.start();
      const s = await tesseraOn(apiPool, ROLE_SECONDS);
      const drain = await quiet(`api + worker, round ${round + 1}`);
      await Promise.all([
        apiMeter.stop(s.requests - s.errors),
        workerMeter.stop(s.requests - s.errors),
      ]);
      two.push({ ...s, drainMs: drain.ms });
    };
    await alternate(ROLE_ROUNDS, runAll, runSplit);
    clearInterval(sampler);
    // p99 at 70 % of each variant's own peak (its closed-loop rounds just above: the machine is
    // busier now than at the first phases), open loop, of the all process and of the api process
    // (its consumers in the worker process), alternating: what the HTTP path waits behind.
    const rolePeak = {
      all: median(one.map((r) => r.rps)),
      api: median(two.map((r) => r.rps)),
    };
    const at70Roles: Record<'all' | 'api', Array<{ p99: number; p50: number; loop: string }>> = {
      all: [],
      api: [],
    };
    const at70Role = async (role: 'all' | 'api') => {
      const [pool, metrics] =
        role === 'all' ? [tesseraPool, `${url}/metrics`] : [apiPool, `${apiUrl}/metrics`];
      await Promise.all([loopDelay(metrics), machine.read()]);
      const run = await pacedMulti(pool, perUser, 0.7 * rolePeak[role], 5);
      const loop = await loopDelay(metrics);
      const floor = await machine.read();
      accepted += run.acceptedAt.size;
      await quiet(`p99 at 70 %, ${role}`);
      at70Roles[role].push({
        p99: quantile(run.latencies, 0.99),
        p50: quantile(run.latencies, 0.5),
        loop: `${loop.text}; ${floor}`,
      });
    };
    for (const role of ['api', 'all', 'all', 'api'] as const) await at70Role(role);
    await tesseraPool.close();
    await apiPool.close();

    const ratios = rounds.map((r) => r.t.rps / r.b.rps);
    const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
    out(
      `\nbench:location — POST /location/update, concurrency ${CONCURRENCY} over ${SESSIONS} users/sessions; ${ROUNDS} rounds of ${ROUND_SECONDS} s, alternating with the bare route (ABAB…); the app with NODE_OPTIONS="${productionNodeOptions()}" (the image's)\n`,
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
    row('bare Fastify + batched kafkajs (acks=all)', (r) => r.b);
    out(
      `\nTessera ÷ bare: ${pct(median(ratios))} median (rounds ${pct(Math.min(...ratios))}–${pct(Math.max(...ratios))}; target ≥ 80 %)`,
    );
    out(`per round: ${ratios.map(pct).join('  ')}`);
    for (const line of tracing) out(line);
    out(`Tessera, its rounds: ${tesseraMeter.summary('update')} (target ≤ 250 µs)`);
    out(`bare, its rounds:    ${bareMeter.summary('update')}`);
    out(
      `p99 at 70 % of peak (${(0.7 * peak).toFixed(0)} req/s open loop, 5 s): ${quantile(at70.latencies, 0.99).toFixed(2)} ms, p50 ${quantile(at70.latencies, 0.5).toFixed(2)} ms, errors ${at70.errors} (target p99 ≤ 25 ms); the app's ${at70Loop.text}; ${at70Idle}`,
    );
    out(
      `delivery lag 202 → sink at ${LAG_RATE} updates/s offered (5 s, ${(lagRun.acceptedAt.size / 5).toFixed(0)}/s accepted, errors ${lagRun.errors}): p50 ${quantile(lags, 0.5).toFixed(1)} ms, p99 ${quantile(lags, 0.99).toFixed(1)} ms, max ${(lags.at(-1) ?? 0).toFixed(1)} ms; delivered ${lags.length}/${lagRun.acceptedAt.size}, undelivered ${undelivered} (target p99 ≤ 300 ms)`,
    );
    out(`app RSS under load: peak ${peakRss.toFixed(0)} MB (target ≤ 300 MB)`);
    out(
      `sink drained before each next phase: ${drains.map((d) => `${d.phase} ${(d.ms / 1000).toFixed(1)} s${d.missing ? ` (${d.missing} missing)` : ''}`).join('; ')}`,
    );

    out(
      `\none process (TESSERA_ROLE=all) vs two (api + worker): ${ROLE_ROUNDS} alternating rounds (ABBA…) of ${ROLE_SECONDS} s at concurrency ${CONCURRENCY}; CPU counted from the load's start until the sink has every update`,
    );
    const summary = (runs: Array<Result & { drainMs: number }>) => {
      const updates = runs.reduce((sum, r) => sum + r.requests - r.errors, 0);
      const seconds = runs.reduce((sum, r) => sum + ROLE_SECONDS + r.drainMs / 1000, 0);
      return `${median(runs.map((r) => r.rps)).toFixed(0)} req/s accepted (rounds ${runs.map((r) => r.rps.toFixed(0)).join(', ')}), p50 ${median(runs.map((r) => r.p50)).toFixed(1)} ms, p99 ${median(runs.map((r) => r.p99)).toFixed(1)} ms, delivered end to end ${(updates / seconds).toFixed(0)} updates/s (drain after the load ${runs.map((r) => (r.drainMs / 1000).toFixed(1)).join(', ')} s), errors ${runs.reduce((sum, r) => sum + r.errors, 0)}`;
    };
    out(
      `idle main-thread CPU (no load, 3 s): all ${idleAll.toFixed(0)} ms/s, api ${idleApi.toFixed(0)} ms/s, worker ${idleWorker.toFixed(0)} ms/s`,
    );
    out(`all:          ${summary(one)}`);
    out(`  all process:    ${allMeter.summary('update')}, peak RSS ${peaks.all.toFixed(0)} MB`);
    out(`api + worker: ${summary(two)}`);
    out(`  api process:    ${apiMeter.summary('update')}, peak RSS ${peaks.api.toFixed(0)} MB`);
    for (const role of ['all', 'api'] as const) {
      const runs = at70Roles[role];
      out(
        `  p99 at 70 % of its peak (${(0.7 * rolePeak[role]).toFixed(0)} req/s, 5 s), ${role} process: ${runs.map((r) => `p99 ${r.p99.toFixed(1)} ms (p50 ${r.p50.toFixed(1)}; ${r.loop})`).join(', ')}`,
      );
    }
    out(
      `  worker process: ${workerMeter.summary('update')}, peak RSS ${peaks.worker.toFixed(0)} MB`,
    );
    out(
      `  api ÷ all throughput: ${pct(median(two.map((r) => r.rps)) / median(one.map((r) => r.rps)))}; main-thread CPU per update api + worker ÷ all: ${pct((apiMeter.microsPerUnit + workerMeter.microsPerUnit) / allMeter.microsPerUnit)}`,
    );
  } finally {
    await cleanup().catch(() => undefined);
    machine.stop();
    for (const child of children) child.kill('SIGTERM');
    sink.close();
    await Promise.all(children.map((child) => exited(child)));
    await deleteTopics([
      topic,
      `${topic}.dlq`,
      splitTopic,
      `${splitTopic}.dlq`,
      bareTopic,
      tracedTopic,
      `${tracedTopic}.dlq`,
    ]);
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** This run's own topics, so runs leave nothing on the broker. */
async function deleteTopics(topics: string[]): Promise<void> {
  const admin = new Kafka({
    clientId: 'bench-cleanup',
    brokers: kafkaConfig().brokers,
    logLevel: logLevel.NOTHING,
  }).admin();
  try {
    await admin.connect();
    const existing = new Set(await admin.listTopics());
    const mine = topics.filter((t) => existing.has(t));
    if (mine.length) await admin.deleteTopics({ topics: mine });
  } catch {
    // left behind: harmless, the names are this run's
  } finally {
    await admin.disconnect().catch(() => undefined);
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
/**
 * An idle Node process beside the load: its event-loop delay is what the machine alone (CPU
 * shared by the load, the brokers and the app) makes any process wait, the floor under every
 * latency measured here. `read()` gives p99 and max since the last read.
 */
function canary(): { read: () => Promise<string>; stop: () => void } {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const h = require('node:perf_hooks').monitorEventLoopDelay({ resolution: 10 }); h.enable();
       process.on('message', () => { process.send({ p99: h.percentile(99) / 1e6, max: h.max / 1e6 }); h.reset(); });`,
    ],
    { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] },
  );
  return {
    read: () =>
      new Promise((resolve) => {
        child.once('message', (m: { p99: number; max: number }) =>
          resolve(
            `an idle process's event-loop delay p99 ${m.p99.toFixed(1)} ms, max ${m.max.toFixed(1)} ms`,
          ),
        );
        child.send('read');
      }),
    stop: () => child.kill(),
  };
}

/**
 * The app's event-loop delay since the last call (prom-client's monitorEventLoopDelay histogram,
 * reset at each scrape of /metrics): p99 and max, in ms.
 */
async function loopDelay(metricsUrl: string): Promise<{ p99: number; max: number; text: string }> {
  const metrics = await (await fetch(metricsUrl)).text();
  const p99 = metricSum(metrics, 'nodejs_eventloop_lag_p99_seconds') * 1000;
  const max = metricSum(metrics, 'nodejs_eventloop_lag_max_seconds') * 1000;
  return { p99, max, text: `event-loop delay p99 ${p99.toFixed(1)} ms, max ${max.toFixed(1)} ms` };
}

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
