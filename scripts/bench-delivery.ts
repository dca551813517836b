import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Kafka, type KafkaMessage, logLevel, Partitioners, type Producer } from 'kafkajs';
import { Agent, request } from 'undici';
import { ensurePlatformAdmin } from '../src/cli/create-platform-admin';
import { loadLocalEnv } from '../src/config';
import {
  deliveryBody,
  type LocationUpdateMessage,
} from '../src/modules/location/updates/location-update.message';
import { createTopicsReady } from '../src/shared/kafka/kafka-topics';
import { signBody } from '../src/shared/outbound';
import {
  benchAppNodeArgs,
  freePort,
  metricSum,
  spawnBuiltApp,
  out,
  quantile,
  sleep,
  waitReady,
  WorkMeter,
  apiCall,
  benchLogin,
  BENCH_PASSWORD,
} from './bench-support';

/**
 * `npm run bench:delivery` (builds first; services up): how fast the location streamer delivers.
 * N updates are produced straight to a topic of this run (named after `LOCATION_TOPIC`), in the
 * record format the persister and the streamer read, before the app starts; then the built app
 * starts with its consumers on and a local sink (answering at once) as the tenant's target, and
 * drains them: drain rate (first to last arrival), main-thread CPU per delivery and RSS. Then an
 * open-loop phase at LAG_RATE updates/s measures the lag from the produce ack to the sink. The
 * same two phases run against a bare kafkajs consumer in a process of its own (lanes per key,
 * the same concurrency, undici POST with the same headers and signature) on a second topic, so
 * the ratio means something on a shared machine. A third run has the app deliver to a tenant that
 * takes batches (`BENCH_BATCH_ITEMS` per POST at most, `BENCH_BATCH_LINGER_MS`).
 */
const N = Number(process.env.BENCH_UPDATES ?? 20_000);
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 8);
const LAG_RATE = Number(process.env.BENCH_LAG_RATE ?? 2000);
const LAG_SECONDS = Number(process.env.BENCH_LAG_SECONDS ?? 5);
const CONCURRENCY = Number(process.env.LOCATION_DELIVERY_CONCURRENCY ?? 64);
const PARTITIONS = Number(process.env.KAFKA_TOPIC_PARTITIONS ?? 3);
const EMAIL = 'bench-admin@bench.tessera.dev';
const SECRET = 'whsec_bench';
const BATCH_ITEMS = Number(process.env.BENCH_BATCH_ITEMS ?? 100);
const BATCH_LINGER_MS = Number(process.env.BENCH_BATCH_LINGER_MS ?? 0);

function kafkaClient(clientId: string): Kafka {
  return new Kafka({
    clientId,
    brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
    logLevel: logLevel.NOTHING,
  });
}

/** The baseline: kafkajs eachBatch, lanes per key, CONCURRENCY in flight, undici POST. */
async function bare(topic: string, target: string): Promise<void> {
  const kafka = kafkaClient('bench-delivery-bare');
  const consumer = kafka.consumer({ groupId: `${topic}.bare` });
  const agent = new Agent({ connections: 128 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const post = async (message: KafkaMessage) => {
    // The same body and signature as the app's (its own functions), without its framework.
    const record = JSON.parse(message.value!.toString()) as LocationUpdateMessage;
    const body = deliveryBody(record);
    const t = Math.floor(Date.now() / 1000);
    const v1 = signBody(SECRET, t, body);
    const res = await request(target, {
      method: 'POST',
      body,
      dispatcher: agent,
      headers: {
        'content-type': 'application/json',
        'idempotency-key': String(record.event_id),
        'x-tessera-signature': `t=${t},v1=${v1}`,
      },
    });
    await res.body.dump();
  };
  await consumer.run({
    partitionsConsumedConcurrently: PARTITIONS,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
      const lanes = new Map<string, KafkaMessage[]>();
      for (const message of batch.messages) {
        const key = message.key?.toString() ?? '';
        const lane = lanes.get(key);
        if (lane) lane.push(message);
        else lanes.set(key, [message]);
      }
      const queue = [...lanes.values()];
      await Promise.all(
        Array.from({ length: Math.min(CONCURRENCY, queue.length) }, async () => {
          for (let lane = queue.shift(); lane; lane = queue.shift()) {
            for (const message of lane) await post(message);
          }
        }),
      );
      resolveOffset(batch.lastOffset());
      await heartbeat();
    },
  });
  process.send?.('ready');
}

/** Arrivals at the sink, per path: first arrival of each idempotency key. */
class Sink {
  readonly arrived = new Map<string, Map<string, number>>();
  requests = 0;
  /** Items per POST to the batched path. */
  readonly batches: number[] = [];
  /** Called on each first arrival of a key, with its path's count so far. */
  onArrival: ((path: string, count: number) => void) | null = null;

  handle(path: string, key: string): void {
    let seen = this.arrived.get(path);
    if (!seen) this.arrived.set(path, (seen = new Map()));
    if (!seen.has(key)) {
      seen.set(key, performance.now());
      this.onArrival?.(path, seen.size);
    }
  }

  count(path: string): number {
    return this.arrived.get(path)?.size ?? 0;
  }
}

function record(tenantId: string, sessionId: string, now = new Date().toISOString()) {
  const eventId = randomUUID();
  return {
    eventId,
    message: {
      key: sessionId,
      value: JSON.stringify({
        v: 1,
        event_id: eventId,
        tenant_id: tenantId,
        session_id: sessionId,
        user_id: `bench-user-${sessionId.slice(0, 8)}`,
        latitude: 52.52,
        longitude: 13.4,
        accuracy: 5,
        recorded_at: now,
        received_at: now,
      }),
      headers: { 'x-tenant-id': tenantId, 'x-event-id': eventId, 'x-user-id': 'bench-user' },
    },
  };
}

async function produceAll(
  producer: Producer,
  topic: string,
  tenantId: string,
  sessions: string[],
): Promise<void> {
  for (let sent = 0; sent < N; sent += 1_000) {
    const messages = Array.from({ length: Math.min(1_000, N - sent) }, (_, i) =>
      record(tenantId, sessions[(sent + i) % sessions.length]),
    ).map((r) => r.message);
    await producer.send({ topic, acks: -1, messages });
  }
}

/** Open loop at LAG_RATE/s: one produce every 5 ms with what is due; the ack time of each id. */
async function paced(
  producer: Producer,
  topic: string,
  tenantId: string,
  sessions: string[],
): Promise<Map<string, number>> {
  const ackedAt = new Map<string, number>();
  const pending: Promise<void>[] = [];
  const began = performance.now();
  let sent = 0;
  while (performance.now() - began < LAG_SECONDS * 1000) {
    const due = Math.floor(((performance.now() - began) / 1000) * LAG_RATE);
    const batch: Array<ReturnType<typeof record>> = [];
    while (sent < due) batch.push(record(tenantId, sessions[sent++ % sessions.length]));
    if (batch.length > 0) {
      pending.push(
        producer.send({ topic, acks: -1, messages: batch.map((r) => r.message) }).then(() => {
          const now = performance.now();
          for (const r of batch) ackedAt.set(r.eventId, now);
        }),
      );
    }
    await sleep(5);
  }
  await Promise.all(pending);
  return ackedAt;
}

async function waitFor(condition: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await sleep(50);
  }
  return condition();
}

interface Figures {
  drainRate: number;
  drained: number;
  meter: WorkMeter;
  inside: string;
  lagP50: number;
  lagP99: number;
  lagMax: number;
  delivered: number;
  accepted: number;
}

/** Drain of the N records already on the topic, then the open-loop lag phase. */
async function measure(
  sink: Sink,
  path: string,
  pid: number,
  metricsUrl: string | undefined,
  producer: Producer,
  topic: string,
  tenantId: string,
  sessions: string[],
): Promise<Figures> {
  const meter = new WorkMeter({ pid, metricsUrl });
  let first = 0;
  let last = 0;
  sink.onArrival = (p, count) => {
    if (p !== path) return;
    if (count === 1) {
      first = performance.now();
      meter.start();
    }
    if (count === N) last = performance.now();
  };
  if (sink.count(path) > 0) throw new Error('the drain began before it was watched');
  await waitFor(() => sink.count(path) >= N, 180_000);
  sink.onArrival = null;
  const drained = sink.count(path);
  await meter.stop(drained);
  const drainRate = last > first ? (N - 1) / ((last - first) / 1000) : NaN;
  let inside = '';
  if (metricsUrl) {
    // What the app saw: the outbound call's mean latency (from the start of the call to the answer).
    const metrics = await (await fetch(metricsUrl)).text();
    const ok = 'outcome="ok"';
    const sum = metricSum(metrics, 'tessera_location_delivery_seconds_sum', ok);
    const count = metricSum(metrics, 'tessera_location_delivery_seconds_count', ok);
    inside = `outbound call mean ${((sum / count) * 1000).toFixed(2)} ms`;
  }

  let persistedAfter = '';
  if (metricsUrl) {
    // The lag phase starts once the persister (same process) has written the drained updates
    // too: its backlog would otherwise share the thread with the phase.
    const began = performance.now();
    const persisted = async () => {
      const metrics = await (await fetch(metricsUrl)).text();
      return metricSum(metrics, 'tessera_location_persisted_total');
    };
    for (let i = 0; i < 600 && (await persisted()) < N; i++) await sleep(100);
    persistedAfter = `; persister done ${((performance.now() - began) / 1000).toFixed(1)} s after the last delivery`;
  }
  const before = new Set(sink.arrived.get(path)?.keys() ?? []);
  const ackedAt = await paced(producer, topic, tenantId, sessions);
  const seen = () => sink.arrived.get(path)!;
  await waitFor(() => [...ackedAt.keys()].every((id) => seen().has(id)), 30_000);
  const lags: number[] = [];
  for (const [id, at] of ackedAt) {
    const arrived = seen().get(id);
    if (arrived !== undefined && !before.has(id)) lags.push(Math.max(0, arrived - at));
  }
  lags.sort((a, b) => a - b);
  return {
    drainRate,
    drained,
    meter,
    inside: inside + persistedAfter,
    lagP50: quantile(lags, 0.5),
    lagP99: quantile(lags, 0.99),
    lagMax: lags.at(-1) ?? 0,
    delivered: lags.length,
    accepted: ackedAt.size,
  };
}

function stopped(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

async function main(): Promise<void> {
  if (process.argv[2] === '--bare') {
    await bare(process.argv[3], process.argv[4]);
    return;
  }
  loadLocalEnv();
  const suffix = randomUUID().slice(0, 8);
  const base = process.env.LOCATION_TOPIC ?? 'location.updates';
  const appTopic = `${base}.bench-${suffix}`;
  const batchTopic = `${base}.bench-${suffix}.batch`;
  const bareTopic = `${base}.bench-${suffix}.bare`;
  const groupPrefix = `${process.env.LOCATION_GROUP_PREFIX ?? 'tessera-location'}-bench-${suffix}`;

  const sink = new Sink();
  const server = createHttpServer((req, res) => {
    const key = String(req.headers['idempotency-key'] ?? '');
    const path = req.url ?? '/';
    const batched = path === '/batch';
    const chunks: Buffer[] = [];
    if (batched) req.on('data', (chunk: Buffer) => chunks.push(chunk));
    else req.resume();
    req.on('end', () => {
      sink.requests++;
      if (!batched) sink.handle(path, key);
      else {
        const { updates } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          updates: Array<{ idempotency_key: string }>;
        };
        sink.batches.push(updates.length);
        for (const item of updates) sink.handle(path, item.idempotency_key);
      }
      res.writeHead(200).end();
    });
  });
  const sinkPort = await freePort();
  await new Promise<void>((r) => server.listen(sinkPort, '127.0.0.1', r));
  const sinkUrl = `http://127.0.0.1:${sinkPort}`;

  const kafka = kafkaClient('bench-delivery');
  const admin = kafka.admin();
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 5,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await Promise.all([admin.connect(), producer.connect()]);
  const children: ChildProcess[] = [];
  const created: string[] = [];
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const startApp = (consumers: boolean, topic = appTopic) => {
    const child = spawnBuiltApp(
      port,
      {
        LOCATION_TOPIC: topic,
        LOCATION_DLQ_TOPIC: `${topic}.dlq`,
        LOCATION_GROUP_PREFIX: `${groupPrefix}${topic === appTopic ? '' : '-batch'}`,
        LOCATION_DELIVERY_ALLOWED_HOSTS: `127.0.0.1:${sinkPort}`,
        LOCATION_CONSUMERS_ENABLED: String(consumers),
        LOCATION_WORKERS_ENABLED: String(consumers),
      },
      consumers ? benchAppNodeArgs() : [],
    );
    children.push(child);
    return child;
  };
  try {
    await createTopicsReady(admin, [
      { topic: appTopic, numPartitions: PARTITIONS, replicationFactor: 1 },
      { topic: bareTopic, numPartitions: PARTITIONS, replicationFactor: 1 },
      { topic: batchTopic, numPartitions: PARTITIONS, replicationFactor: 1 },
    ]);
    // Setup (consumers off): the tenant, and the sink as its delivery target (signed).
    let app = startApp(false);
    await waitReady(url, '/health/live');
    await ensurePlatformAdmin(EMAIL, BENCH_PASSWORD);
    const token = await benchLogin(url, EMAIL);
    // Tenants of this run (deleted at the end): one made by an earlier run may have lost its
    // database secret since (the local AWS emulator keeps secrets in memory).
    const deliveringTenant = async (name: string, delivery: Record<string, unknown>) => {
      const tenant = await apiCall(url, 'POST', '/api/v1/tenants', token, {
        name: `${name} ${suffix}`,
      });
      if (tenant.status !== 201) throw new Error(`POST /tenants: ${tenant.status}`);
      const id = tenant.body.id as string;
      created.push(id);
      const target = await apiCall(url, 'PUT', '/api/v1/location/delivery', token, delivery, {
        'x-tenant-id': id,
      });
      if (target.status !== 200) throw new Error(`PUT /location/delivery: ${target.status}`);
      return id;
    };
    const tenantId = await deliveringTenant('Bench Delivery', {
      endpoint_url: `${sinkUrl}/hook`,
      enabled: true,
      batch: null,
    });
    const batchTenantId = await deliveringTenant('Bench Delivery Batched', {
      endpoint_url: `${sinkUrl}/batch`,
      enabled: true,
      batch: { max_items: BATCH_ITEMS, linger_ms: BATCH_LINGER_MS },
    });
    await stopped(app);

    const sessions = Array.from({ length: SESSIONS }, () => randomUUID());
    await produceAll(producer, appTopic, tenantId, sessions);
    await produceAll(producer, bareTopic, tenantId, sessions);
    await produceAll(producer, batchTopic, batchTenantId, sessions);

    // The app: persister and streamer on, as in production.
    app = startApp(true);
    const appFigures = await measure(
      sink,
      '/hook',
      app.pid!,
      `${url}/metrics`,
      producer,
      appTopic,
      tenantId,
      sessions,
    );
    await stopped(app);

    // The same app, delivering to a tenant that takes batches.
    app = startApp(true, batchTopic);
    const batchFigures = await measure(
      sink,
      '/batch',
      app.pid!,
      `${url}/metrics`,
      producer,
      batchTopic,
      batchTenantId,
      sessions,
    );
    await stopped(app);

    const baseline = spawn(process.execPath, [__filename, '--bare', bareTopic, `${sinkUrl}/bare`], {
      env: process.env,
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    children.push(baseline);
    const bareFigures = await measure(
      sink,
      '/bare',
      baseline.pid!,
      undefined,
      producer,
      bareTopic,
      tenantId,
      sessions,
    );

    out(
      `\nbench:delivery — ${N} updates over ${SESSIONS} sessions, ${PARTITIONS} partitions, concurrency ${CONCURRENCY}; lag at ${LAG_RATE}/s for ${LAG_SECONDS} s\n`,
    );
    const line = (label: string, f: Figures) => {
      out(
        `${label.padEnd(34)} drain ${f.drainRate.toFixed(0).padStart(6)}/s (${f.drained}/${N})  lag p50 ${f.lagP50.toFixed(1)} ms, p99 ${f.lagP99.toFixed(1)} ms, max ${f.lagMax.toFixed(1)} ms (${f.delivered}/${f.accepted})`,
      );
      out(`${''.padEnd(34)} ${f.meter.summary('delivery')}`);
      if (f.inside) out(`${''.padEnd(34)} ${f.inside}`);
    };
    line('Tessera streamer (+ persister)', appFigures);
    line(`Tessera, batches of ≤ ${BATCH_ITEMS} (${BATCH_LINGER_MS} ms)`, batchFigures);
    line('bare kafkajs + undici', bareFigures);
    const mean = sink.batches.reduce((a, b) => a + b, 0) / Math.max(1, sink.batches.length);
    out(
      `\nTessera ÷ bare drain rate: ${((appFigures.drainRate / bareFigures.drainRate) * 100).toFixed(1)} %; batched ÷ bare ${((batchFigures.drainRate / bareFigures.drainRate) * 100).toFixed(1)} %; batched POSTs ${sink.batches.length} (mean ${mean.toFixed(1)} updates, max ${Math.max(0, ...sink.batches)}); sink requests ${sink.requests}`,
    );
  } finally {
    await Promise.all(children.map(stopped));
    if (created.length > 0) {
      const app = startApp(false);
      await waitReady(url, '/health/live')
        .then(() => benchLogin(url, EMAIL))
        .then((token) =>
          Promise.all(created.map((id) => apiCall(url, 'DELETE', `/api/v1/tenants/${id}`, token))),
        )
        .catch((error: unknown) => out(`cleanup: ${String(error)}`));
      await stopped(app);
    }
    await admin
      .deleteTopics({
        topics: [appTopic, `${appTopic}.dlq`, bareTopic, batchTopic, `${batchTopic}.dlq`],
      })
      .catch(() => undefined);
    await Promise.allSettled([admin.disconnect(), producer.disconnect()]);
    server.close();
  }
}

main()
  .then(() => process.argv[2] !== '--bare' && process.exit(0))
  .catch((error: unknown) => {
    process.stderr.write(
      `bench:delivery failed: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(1);
  });
