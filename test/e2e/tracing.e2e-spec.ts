import { randomUUID } from 'node:crypto';
import request from 'supertest';
import WebSocket from 'ws';
import type { TestApp } from '../support/app';
import { type AppProcess, appReady, spawnApp, stopApp } from '../support/app-process';
import { SUITE_RETRY_DELAYS_MS } from '../support/env';
import { HttpSink, isolateLocationTopics, setDelivery, startSession } from '../support/http-sink';
import {
  createTenant,
  type Identity,
  platformAdmin,
  platformSql,
  tenantMember,
} from '../support/identities';
import { OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver';
import { eventually } from '../support/services';
import { rabbitManagement, VHOST } from '../support/rabbitmq-management';

/**
 * Traces through every transport the app owns, from two real app processes (child processes:
 * instrumentations patch modules as Node loads them, which Jest's module registry defeats)
 * exporting over OTLP/HTTP to a receiver this test runs. Each case follows one unit of work.
 */

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;
const SERVER = 2; // OTLP SpanKind: SPAN_KIND_SERVER

/** The broker's management API, for a queue of this test's own tenant. */
const management = rabbitManagement;
const vhost = VHOST;

function traceIdOf(traceparent: string | undefined): string {
  const match = TRACEPARENT.exec(traceparent ?? '');
  if (!match) throw new Error(`not a sampled W3C traceparent: ${traceparent}`);
  return match[1];
}

function spanIdOf(traceparent: string | undefined): string {
  return TRACEPARENT.exec(traceparent ?? '')![2];
}

/** The one span of `spans` named `name` (and matching `where`); throws with the names otherwise. */
function one(
  spans: ReceivedSpan[],
  name: string,
  where: (s: ReceivedSpan) => boolean = () => true,
) {
  const found = spans.filter((span) => span.name === name && where(span));
  if (found.length !== 1)
    throw new Error(`${found.length} spans named ${name}; trace: ${names(spans).join(', ')}`);
  return found[0];
}

function parentOf(spans: ReceivedSpan[], span: ReceivedSpan): ReceivedSpan {
  const parent = spans.find((s) => s.spanId === span.parentSpanId);
  if (!parent) throw new Error(`${span.name} has no parent in the trace`);
  return parent;
}

function names(spans: ReceivedSpan[]): string[] {
  return spans.map((span) => span.name);
}

/** Whether `ancestor` is `span` or one of its ancestors within `spans`. */
function descends(spans: ReceivedSpan[], span: ReceivedSpan, ancestor: ReceivedSpan): boolean {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  for (let at: ReceivedSpan | undefined = span; at; at = byId.get(at.parentSpanId ?? '')) {
    if (at.spanId === ancestor.spanId) return true;
  }
  return false;
}

/** One line per span: name, process, parent and tenant, as a trace view would show them. */
function print(label: string, spans: ReceivedSpan[]): void {
  const ids = new Map(spans.map((s, i) => [s.spanId, i]));
  console.log(
    `${label} (${spans.length} spans, trace ${spans[0]?.traceId}):\n` +
      spans
        .map(
          (s, i) =>
            `  #${i} ${s.name} [pid ${s.pid}] parent ${ids.has(s.parentSpanId ?? '') ? `#${ids.get(s.parentSpanId!)}` : (s.parentSpanId ?? 'none')}` +
            `${s.links.length ? ` links ${s.links.map((l) => l.traceId.slice(0, 8)).join(',')}` : ''} tenant.id ${String(s.attributes['tenant.id']).slice(0, 8)}`,
        )
        .join('\n'),
  );
}

describe('Tracing: one unit of work through every transport (two app processes, OTLP/HTTP)', () => {
  const receiver = new OtlpReceiver();
  const sink = new HttpSink();
  const hooks = new HttpSink();
  const savedEnv: Record<string, string | undefined> = {};
  let topics: { topic: string; dlq: string };
  let a: AppProcess;
  let b: AppProcess;
  let admin: Identity;
  let owner: Identity;
  let user: Identity;
  let tenant: { id: string; api_key: string };

  const appA = () => ({ url: a.url }) as TestApp;

  beforeAll(async () => {
    const endpoint = await receiver.start();
    await sink.start();
    await hooks.start();
    for (const name of ['LOCATION_TOPIC', 'LOCATION_DLQ_TOPIC', 'LOCATION_GROUP_PREFIX'])
      savedEnv[name] = process.env[name];
    topics = isolateLocationTopics('tracing');
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_SERVICE_NAME: 'tessera-tracing-e2e',
      LOCATION_DELIVERY_ALLOWED_HOSTS: `127.0.0.1:${sink.port},127.0.0.1:${hooks.port}`,
      LOCATION_RETRY_BASE_MS: '1000',
      LOCATION_RETRY_INTERVAL_MS: '200',
      LOCATION_BREAKER_VOLUME: '100000',
      MESSAGING_RELAY_AFTER_MS: '300',
      MESSAGING_RELAY_INTERVAL_MS: '300',
      MESSAGING_RETRY_DELAYS_MS: SUITE_RETRY_DELAYS_MS,
    };
    [a, b] = await Promise.all([spawnApp(env), spawnApp(env)]);
    await Promise.all([appReady(a), appReady(b)]);
    admin = await platformAdmin(appA());
    tenant = await createTenant(appA(), admin);
    owner = await tenantMember(appA(), tenant.id, 'tenant_owner');
    user = await tenantMember(appA(), tenant.id, 'user');
  }, 180_000);

  afterAll(async () => {
    if (tenant)
      await request(a.url)
        .delete(`/api/v1/tenants/${tenant.id}`)
        .set('Authorization', admin.bearer)
        .catch(() => undefined);
    await Promise.all([stopApp(a), stopApp(b)]);
    await Promise.all([sink.close(), hooks.close(), receiver.stop()]);
    for (const [name, value] of Object.entries(savedEnv)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  /** Every span of the trace, once every name in `expected` has arrived (bounded wait). */
  const traceWith = (traceId: string, expected: string[]) =>
    eventually(
      () => Promise.resolve(receiver.trace(traceId)),
      (spans) => expected.every((name) => spans.some((span) => span.name === name)),
      30_000,
      200,
    );

  /** No attribute of any span holds one of `values` (a payload, a credential). */
  const expectNoneHolds = (spans: ReceivedSpan[], values: string[]) => {
    const leaks = spans.flatMap((span) =>
      Object.entries(span.attributes)
        .filter(([, value]) => values.some((secret) => String(value).includes(secret)))
        .map(([key]) => `${span.name} ${key}`),
    );
    expect(leaks).toEqual([]);
  };

  const expectTenantOnEvery = (spans: ReceivedSpan[]) => {
    const without = spans.filter((span) => span.attributes['tenant.id'] !== tenant.id);
    expect(without.map((span) => `${span.name}: ${String(span.attributes['tenant.id'])}`)).toEqual(
      [],
    );
  };

  it('a location update: HTTP → produce → persist → stream → deliver → (target down) DLQ → ledger; the retry is a trace linked to it, its delivery sending its traceparent', async () => {
    await setDelivery(appA(), owner, sink.url);
    const sessionId = await startSession(appA(), user);
    await sink.down();
    const res = await request(a.url)
      .post('/api/v1/location/update')
      .set('Authorization', user.bearer)
      .send({ session_id: sessionId, latitude: 12.345678, longitude: 20 });
    expect(res.status).toBe(202);
    const eventId = res.body.event_id as string;

    const ledger = () =>
      platformSql<{ status: string; traceparent: string | null }>(
        'select status, traceparent from failed_location_updates where event_id = $1',
        [eventId],
      );
    const filed = await eventually(ledger, (rows) => rows.length === 1, 60_000, 200);
    const traceId = traceIdOf(filed[0].traceparent ?? undefined);
    await sink.up();
    const settled = await eventually(ledger, (rows) => rows[0]?.status === 'resolved', 60_000, 200);
    expect(settled[0].status).toBe('resolved');
    const delivered = sink.requests.filter((r) => r.json.event_id === eventId);
    expect(delivered).toHaveLength(1);
    const retryTraceId = traceIdOf(delivered[0].traceparent);
    expect(retryTraceId).not.toBe(traceId);

    const send = `send ${topics.topic}`;
    const sendDlq = `send ${topics.dlq}`;
    const original = await traceWith(traceId, [
      send,
      'location.persist',
      'location.stream',
      'outbound.deliver',
      sendDlq,
      'location.ledger',
    ]);
    const retry = await traceWith(retryTraceId, ['location.retry', 'outbound.deliver', 'POST']);
    print('location update', original);
    print('its retry', retry);

    const root = one(original, 'POST /api/v1/location/update', (s) => s.kind === SERVER);
    expect(root.parentSpanId).toBeUndefined();
    const produce = one(original, send);
    expect(descends(original, produce, root)).toBe(true);
    expect(one(original, 'location.persist').parentSpanId).toBe(produce.spanId);
    const stream = one(original, 'location.stream');
    expect(stream.parentSpanId).toBe(produce.spanId);
    expect(one(original, 'outbound.deliver').parentSpanId).toBe(stream.spanId);
    const deadLetter = one(original, sendDlq);
    expect(deadLetter.parentSpanId).toBe(stream.spanId);
    const filing = one(original, 'location.ledger');
    expect(filing.parentSpanId).toBe(deadLetter.spanId);
    // The row names the filing span; the retry links to it (its own trace, minutes or hours later).
    expect(spanIdOf(filed[0].traceparent!)).toBe(filing.spanId);
    const retrying = one(retry, 'location.retry');
    expect(retrying.parentSpanId).toBeUndefined();
    expect(retrying.links).toEqual([{ traceId, spanId: filing.spanId }]);
    const redeliver = one(retry, 'outbound.deliver');
    expect(redeliver.parentSpanId).toBe(retrying.spanId);
    // What the third party got: the retry's trace, its parent the HTTP client span of the delivery.
    const client = one(retry, 'POST', (s) => s.spanId === spanIdOf(delivered[0].traceparent));
    expect(client.parentSpanId).toBe(redeliver.spanId);
    expectTenantOnEvery([...original, ...retry]);
    expectNoneHolds([...original, ...retry], [user.token, owner.token, '12.345678']);
    console.log(
      `location: accepted 1 update, target down then up; ledger ${settled[0].status}; deliveries seen by the target ${delivered.length}; spans: update trace ${original.length}, retry trace ${retry.length}`,
    );
  });

  it('a message: publish (its queue is gone) → stored with its outbox row → relay → consume → webhook, one trace', async () => {
    const config = await request(a.url)
      .put(`/api/v1/tenants/${tenant.id}/consumers/traced/config`)
      .set('Authorization', owner.bearer)
      .send({ workers: 1, max_attempts: 3, webhook_url: hooks.url });
    expect(config.status).toBe(200);
    // The broker loses the queue (deleted behind the app's back): the publish finds no queue,
    // the message stays stored with its outbox row, and the relay declares the queue again.
    const queue = `tenant.${tenant.id}.traced`;
    const deleted = await management('DELETE', `queues/${vhost}/${encodeURIComponent(queue)}`);
    expect(deleted.status).toBe(204);

    const res = await request(a.url)
      .post('/api/v1/messages')
      .set('Authorization', owner.bearer)
      .send({ queue_name: 'traced', payload: { secret: 'payload-must-not-leak' } });
    expect(res.status).toBe(503);
    expect(res.body.details[0]).toMatchObject({ status: 'queued', relayed_later: true });
    const messageId = res.body.details[0].message_id as string;

    const hook = await eventually(
      () => Promise.resolve(hooks.requests.find((r) => r.idempotencyKey === messageId)),
      (found) => found !== undefined,
      60_000,
      200,
    );
    const traceId = traceIdOf(hook!.traceparent);
    const spans = await traceWith(traceId, [
      'messaging.relay',
      'amqp.consume',
      'outbound.deliver',
      'POST',
    ]);
    print('message', spans);

    const root = one(spans, 'POST /api/v1/messages', (s) => s.kind === SERVER);
    expect(root.parentSpanId).toBeUndefined();
    const relays = spans.filter((s) => s.name === 'messaging.relay');
    // The publish the request made itself (refused: no queue), outside any relay.
    const direct = spans.filter(
      (s) => s.name === 'amqp.publish' && !relays.some((relay) => descends(spans, s, relay)),
    );
    expect(direct).toHaveLength(1);
    expect(descends(spans, direct[0], root)).toBe(true);
    // Walk back from what the webhook got: HTTP client ← deliver ← consume ← publish ← relay.
    const client = one(spans, 'POST', (s) => s.spanId === spanIdOf(hook!.traceparent));
    const deliver = parentOf(spans, client);
    expect(deliver.name).toBe('outbound.deliver');
    const consume = parentOf(spans, deliver);
    expect(consume.name).toBe('amqp.consume');
    const published = parentOf(spans, consume);
    expect(published.name).toBe('amqp.publish');
    const relay = parentOf(spans, published);
    expect(relay.name).toBe('messaging.relay');
    // The relay continues the request's trace: the outbox row carried its traceparent.
    expect(descends(spans, relay, root)).toBe(true);
    expectTenantOnEvery(spans);
    expectNoneHolds(spans, ['payload-must-not-leak', owner.token]);
    console.log(
      `message: answered ${res.status} (stored, relayed later); relays ${relays.length} (a duplicate publish is acked once); webhook calls ${hooks.requests.filter((r) => r.idempotencyKey === messageId).length}; spans ${spans.length}`,
    );
  });

  it('an event: ingested on one instance → fan-out on Redis → pushed on the other, its trace_id in the frame', async () => {
    const frames: Array<{ type: string; data: Record<string, unknown>; trace_id?: string }> = [];
    const socket = new WebSocket(`${b.url.replace('http', 'ws')}/api/v1/ws`, {
      headers: { 'x-api-key': tenant.api_key },
    });
    socket.on('message', (raw: Buffer) => frames.push(JSON.parse(raw.toString()) as never));
    try {
      await eventually(
        () => Promise.resolve(frames.some((f) => f.type === 'hello')),
        Boolean,
        15_000,
        50,
      );
      const marker = randomUUID();
      const res = await request(a.url)
        .post('/api/v1/events')
        .set('X-API-Key', tenant.api_key)
        .send({ event_type: 'trace.probe', source: 'e2e', metadata: { marker } });
      expect([201, 202]).toContain(res.status);
      const frame = await eventually(
        () =>
          Promise.resolve(
            frames.find(
              (f) =>
                f.type === 'event' &&
                (f.data.metadata as Record<string, unknown> | undefined)?.marker === marker,
            ),
          ),
        (found) => found !== undefined,
        15_000,
        50,
      );
      expect(frame!.trace_id).toMatch(/^[0-9a-f]{32}$/);
      const spans = await traceWith(frame!.trace_id!, ['events.fanout', 'events.push']);
      print('event', spans);

      const root = one(spans, 'POST /api/v1/events', (s) => s.kind === SERVER);
      expect(root.pid).toBe(a.process.pid);
      const fanout = one(spans, 'events.fanout');
      expect(fanout.pid).toBe(a.process.pid);
      expect(descends(spans, fanout, root)).toBe(true);
      const push = one(spans, 'events.push');
      expect(push.pid).toBe(b.process.pid);
      expect(push.parentSpanId).toBe(fanout.spanId);
      expectTenantOnEvery(spans);
      expectNoneHolds(spans, [marker, tenant.api_key]);
      console.log(
        `event: ingested on pid ${a.process.pid}, pushed on pid ${b.process.pid}; frame trace_id ${frame!.trace_id}; spans ${spans.length}`,
      );
    } finally {
      socket.close();
    }
  });
});
