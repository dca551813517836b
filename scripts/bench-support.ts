import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/**
 * What every benchmark script shares: statistics, output, waiting for a process to serve, and
 * what the work cost the process serving it (main-thread CPU per unit, RSS, heap used).
 */

// A clone where only the services were started (`npm run services up`, not `npm run up`) has no
// .env: the benchmarks, and the apps they start, then take .env.example's values (the local
// services' addresses), as `npm run up` would copy them; .env.local's Cognito ids come first.
if (!existsSync('.env') && existsSync('.env.example')) {
  if (existsSync('.env.local')) process.loadEnvFile('.env.local');
  process.loadEnvFile('.env.example');
}

/** The median, interpolated between the two middle values of an even count. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The q-quantile (0…1) of an already sorted list; 0 for an empty one. */
export function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

export const out = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A TCP port nothing listens on right now. */
/**
 * The `NODE_OPTIONS` the image runs the app with (read from the Dockerfile, so they cannot drift):
 * the heap bounds production has. `BENCH_NODE_OPTIONS` replaces them (`-`: none).
 */
export function productionNodeOptions(): string {
  const override = process.env.BENCH_NODE_OPTIONS;
  if (override !== undefined) return override === '-' ? '' : override;
  const dockerfile = readFileSync(join(__dirname, '..', '..', 'Dockerfile'), 'utf8');
  const flags = /NODE_OPTIONS="([^"]*)"/.exec(dockerfile)?.[1];
  if (flags === undefined) throw new Error('the Dockerfile sets no NODE_OPTIONS');
  return flags;
}

/**
 * The built app (`dist/src/main.js`) as a child process on 127.0.0.1:`port`, logging warnings
 * only, with /metrics open (development), the environment plus `env`, and `nodeArgs` for node.
 */
export function spawnBuiltApp(
  port: number,
  env: Record<string, string>,
  nodeArgs: string[] = [],
): ChildProcess {
  return spawn(process.execPath, [...nodeArgs, join(__dirname, '..', 'src', 'main.js')], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      NODE_ENV: 'development',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** BENCH_APP_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof": node flags of the app. */
export function benchAppNodeArgs(): string[] {
  return process.env.BENCH_APP_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
}

/** `rounds` rounds of `a` and `b` alternating which runs first (ABBA…): neither always leads. */
export async function alternate(
  rounds: number,
  a: (round: number) => Promise<void>,
  b: (round: number) => Promise<void>,
): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    const [first, second] = round % 2 === 0 ? [a, b] : [b, a];
    await first(round);
    await second(round);
  }
}

/** The sum of every series of one metric in a Prometheus text exposition (whatever its labels). */
export function metricSum(exposition: string, name: string, labels = ''): number {
  let sum = 0;
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (!(rest.startsWith(' ') || rest.startsWith('{'))) continue;
    if (labels && !rest.includes(labels)) continue;
    sum += Number(rest.slice(rest.lastIndexOf(' ') + 1));
  }
  return sum;
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Polls `url + path` until it answers 2xx, every 200 ms, at most `attempts` times. */
export async function waitReady(url: string, path = '/health/live', attempts = 150): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    try {
      if ((await fetch(`${url}${path}`)).ok) return;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  throw new Error(`${url} did not start`);
}

/**
 * Whose cost a benchmark reports: `'self'` for an app in the benchmark's own process, or a child
 * process by pid (Linux /proc), with the URL of its /metrics for the heap (optional).
 */
export type UsageSource = 'self' | { pid: number; metricsUrl?: string };

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim()) || 100;

/** CPU time (µs, user + system) the source's main thread has used so far. */
export function mainThreadCpuMicros(source: UsageSource): number {
  if (source === 'self') {
    const { user, system } = process.threadCpuUsage();
    return user + system;
  }
  // The main thread's task id is the pid; utime and stime are fields 14 and 15 (after "(comm)").
  const stat = readFileSync(`/proc/${source.pid}/task/${source.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
}

/** Resident set size and V8 heap used now, in bytes (heap undefined when it cannot be read). */
export async function memoryOf(
  source: UsageSource,
): Promise<{ rssBytes: number; heapUsedBytes?: number }> {
  if (source === 'self') {
    const { rss, heapUsed } = process.memoryUsage();
    return { rssBytes: rss, heapUsedBytes: heapUsed };
  }
  const status = readFileSync(`/proc/${source.pid}/status`, 'utf8');
  const rssBytes = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
  if (!source.metricsUrl) return { rssBytes };
  try {
    const metrics = await (await fetch(source.metricsUrl)).text();
    const heap = /^nodejs_heap_size_used_bytes (\S+)$/m.exec(metrics)?.[1];
    return { rssBytes, heapUsedBytes: heap === undefined ? undefined : Number(heap) };
  } catch {
    return { rssBytes };
  }
}

const mb = (values: Array<number | undefined>) =>
  values.some((v) => v === undefined)
    ? 'n/a'
    : `${values.map((v) => (v! / 2 ** 20).toFixed(0)).join('+')} MB`;

/**
 * Main-thread CPU per unit of work over the measured phases only: `start()` before a phase,
 * `stop(units)` after it with the requests or messages it completed; phases add up (a meter per
 * variant in ABAB rounds). Several processes sharing the work (instances behind one load) add
 * their CPU; their memory is shown one by one (RSS, heap used, read after the last phase). For an
 * app in the benchmark's own process the figure includes the load generator's share of the thread.
 */
export class WorkMeter {
  private readonly sources: UsageSource[];
  private cpuMicros = 0;
  private units = 0;
  private startedAt?: number;
  private memory: Array<{ rssBytes: number; heapUsedBytes?: number }> = [];

  constructor(source: UsageSource | UsageSource[]) {
    this.sources = Array.isArray(source) ? source : [source];
  }

  private cpuNow(): number {
    return this.sources.reduce((sum, source) => sum + mainThreadCpuMicros(source), 0);
  }

  start(): void {
    this.startedAt = this.cpuNow();
  }

  async stop(units: number): Promise<void> {
    if (this.startedAt === undefined) throw new Error('WorkMeter.stop() without start()');
    this.cpuMicros += this.cpuNow() - this.startedAt;
    this.startedAt = undefined;
    this.units += units;
    this.memory = await Promise.all(this.sources.map((source) => memoryOf(source)));
  }

  /** µs of main-thread CPU per unit (NaN before any unit). */
  get microsPerUnit(): number {
    return this.cpuMicros / this.units;
  }

  /** e.g. "main-thread CPU 312 µs/request (4100 ms over 13140), RSS 243 MB, heap used 98 MB". */
  summary(unit: string): string {
    return `main-thread CPU ${this.microsPerUnit.toFixed(0)} µs/${unit} (${(this.cpuMicros / 1000).toFixed(0)} ms over ${this.units}), RSS ${mb(this.memory.map((m) => m.rssBytes))}, heap used ${mb(this.memory.map((m) => m.heapUsedBytes))}`;
  }
}

/** The password of every account the benchmarks make (local services only). */
export const BENCH_PASSWORD = 'Bench-Passw0rd!';

/** One JSON call with a bearer token; an empty answer reads as {}. */
export async function apiCall(
  url: string,
  method: string,
  path: string,
  token: string,
  body?: object,
  extra: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...extra },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/**
 * Logs in (answering a first-login password challenge with the same password); the access token.
 * Throws unless 200.
 */
export async function benchLogin(url: string, email: string, tenantId?: string): Promise<string> {
  const res = await fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      email,
      password: BENCH_PASSWORD,
      new_password: BENCH_PASSWORD,
      ...(tenantId ? { tenant_id: tenantId } : {}),
    }),
  });
  if (res.status !== 200) throw new Error(`login answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** How long a traced round waits after its load for the last spans' export (see the env below). */
export const TRACE_FLUSH_MS = 1_500;

/**
 * `BENCH_TRACING`: `on` (default) adds a round of the bench with tracing exporting, `off` skips
 * it, `only` runs just that comparison.
 */
export const BENCH_TRACING = (process.env.BENCH_TRACING ?? 'on') as 'on' | 'off' | 'only';

/**
 * A local OTLP/HTTP receiver that only counts what it gets (the spans of each JSON export, by
 * their `"spanId"` keys, without parsing), so the traced app pays the real export and the
 * receiver stays cheap. `env` points an app at it (standard OTEL_* variables only; a sampler set
 * in the bench's own environment, OTEL_TRACES_SAMPLER/_ARG, reaches the app with the rest).
 * The untraced app gets `OTEL_SDK_DISABLED=true`, whatever the environment says.
 */
export async function startSpanCounter(): Promise<{
  env: Record<string, string>;
  spans: () => number;
  exports: () => number;
  close: () => Promise<void>;
}> {
  const { createServer: createHttpServer } = await import('node:http');
  let spans = 0;
  let exports = 0;
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      for (let at = body.indexOf('"spanId"'); at !== -1; at = body.indexOf('"spanId"', at + 8))
        spans++;
      exports++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  const port = await freePort();
  await new Promise<void>((done) => server.listen(port, '127.0.0.1', done));
  return {
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OTEL_SERVICE_NAME: 'tessera-bench',
      OTEL_SDK_DISABLED: 'false',
      // Exported within a second, so a round's spans are exported (and their cost counted) in it.
      OTEL_BSP_SCHEDULE_DELAY: '1000',
    },
    spans: () => spans,
    exports: () => exports,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}
