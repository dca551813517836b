import type { TestingModuleBuilder } from '@nestjs/testing';
import request from 'supertest';
import { Clock } from '../../src/modules/location';
import { TestClock } from '../support/test-clock';
import { createTestApp, type TestApp } from '../support/app';
import {
  HttpSink,
  isolateLocationTopics,
  locationTenant,
  type LocationTenant,
  platformAdmin,
  setDelivery,
  startSession,
} from '../support/http-sink';
import { type Identity, platformSql } from '../support/identities';
import { eventually } from '../support/services';

interface Row {
  event_id: string;
  status: string;
  retry_count: number;
  attempts: number;
  next_retry_at: Date | null;
  last_status_code: number | null;
}

const MINUTE = 60_000;

describe('Location retry worker: the 1…128-minute schedule with a clock port, two workers on one ledger', () => {
  const clock = new TestClock();
  let t1: TestApp;
  let t2: TestApp;
  let sink: HttpSink;
  let a: LocationTenant;
  let user: Identity;

  beforeAll(async () => {
    sink = await new HttpSink().start();
    isolateLocationTopics('retry');
    process.env.LOCATION_DELIVERY_ALLOWED_HOSTS = `127.0.0.1:${sink.port}`;
    process.env.LOCATION_RETRY_INTERVAL_MS = '150';
    process.env.LOCATION_BREAKER_VOLUME = '100000';
    const withClock = {
      override: (builder: TestingModuleBuilder) => builder.overrideProvider(Clock).useValue(clock),
    };
    t1 = await createTestApp(withClock);
    t2 = await createTestApp(withClock);
    const admin = await platformAdmin(t1);
    a = await locationTenant(t1, admin, 1);
    user = a.users[0];
    await setDelivery(t1, a.owner, sink.url);
  }, 120_000);
  afterAll(async () => {
    for (const name of [
      'LOCATION_DELIVERY_ALLOWED_HOSTS',
      'LOCATION_RETRY_INTERVAL_MS',
      'LOCATION_BREAKER_VOLUME',
    ])
      delete process.env[name];
    await t1?.close();
    await t2?.close();
    await sink?.close();
  });

  const rows = (ids: string[]) =>
    platformSql<Row>(
      `select event_id, status, retry_count, attempts, next_retry_at, last_status_code
         from failed_location_updates where event_id = any($1::uuid[])`,
      [ids],
    );
  const post = async (sessionId: string, latitude: number) => {
    const res = await request(t1.url)
      .post('/api/v1/location/update')
      .set('Authorization', user.bearer)
      .send({ session_id: sessionId, latitude, longitude: 1 });
    expect(res.status).toBe(202);
    return res.body.event_id as string;
  };

  it('exactly 8 retries at 1, 2, 4 … 128 min → permanently_failed; another row pending → retried → resolved; never twice', async () => {
    const session = await startSession(t1, user);
    // Which clock time the sink saw each request at, per event.
    const seenAt = new Map<string, number[]>();
    let yCalls = 0;
    sink.decide = (req) => {
      const list = seenAt.get(req.idempotencyKey) ?? [];
      list.push(clock.at);
      seenAt.set(req.idempotencyKey, list);
      if (req.json.latitude === 10.5) return 503;
      if (req.json.latitude === 20.5) return ++yCalls <= 3 ? 503 : 200;
      return null;
    };
    const x = await post(session, 10.5);
    const y = await post(session, 20.5);
    await eventually(
      () => rows([x, y]),
      (r) => r.length === 2,
      30_000,
    );
    const history = new Map<string, string[]>([
      [x, ['pending']],
      [y, ['pending']],
    ]);
    const note = (r: Row[]) => {
      for (const row of r) {
        const h = history.get(row.event_id)!;
        if (h.at(-1) !== row.status) h.push(row.status);
      }
    };
    for (let step = 0; step < 20; step++) {
      const current = await rows([x, y]);
      note(current);
      const open = current.filter((r) => r.status === 'pending' || r.status === 'retried');
      if (open.length === 0) break;
      const due = Math.min(...open.map((r) => new Date(r.next_retry_at!).getTime()));
      const before = new Map(current.map((r) => [r.event_id, r.attempts]));
      clock.at = due;
      const after = await eventually(
        () => rows([x, y]),
        (r) =>
          r.every(
            (row) =>
              !open.some((o) => o.event_id === row.event_id) ||
              new Date(open.find((o) => o.event_id === row.event_id)!.next_retry_at!).getTime() >
                due ||
              row.attempts > before.get(row.event_id)!,
          ),
        15_000,
        50,
      );
      note(after);
    }
    const final = await rows([x, y]);
    const rx = final.find((r) => r.event_id === x)!;
    const ry = final.find((r) => r.event_id === y)!;
    const times = seenAt.get(x)!;
    const gaps = times.slice(1).map((at, i) => (at - times[i]) / MINUTE);
    console.log(
      `retry schedule: x gaps (min)=${JSON.stringify(gaps)} x=${rx.status}/${rx.retry_count} retries; y history=${history.get(y)!.join(' → ')}; sink calls x=${times.length} y=${seenAt.get(y)!.length}`,
    );
    expect(gaps).toEqual([1, 2, 4, 8, 16, 32, 64, 128]);
    expect(rx).toMatchObject({ status: 'permanently_failed', retry_count: 8, attempts: 9 });
    expect(rx.last_status_code).toBe(503);
    expect(history.get(x)).toEqual(['pending', 'retried', 'permanently_failed']);
    expect(ry.status).toBe('resolved');
    expect(history.get(y)).toEqual(['pending', 'retried', 'resolved']);
    // 1 streamed + 8 retries, 1 + 3: two workers never delivered one row twice.
    expect(times).toHaveLength(9);
    expect(seenAt.get(y)).toHaveLength(4);
    sink.decide = null;
    await request(t1.url)
      .post(`/api/v1/location/session/${session}/stop`)
      .set('Authorization', user.bearer)
      .expect(200);
  });

  it('updates accepted before their session ended stay deliverable: retried once the sink is mended, and a replay of a permanently_failed row delivers it', async () => {
    const session = await startSession(t1, user);
    let calls = 0;
    let mended = false;
    sink.decide = (req) => {
      if (req.json.latitude === 30.5) return (calls++, mended ? 200 : 503);
      if (req.json.latitude === 31.5) return mended ? 200 : 422;
      return null;
    };
    const z = await post(session, 30.5);
    const w = await post(session, 31.5);
    const filed = await eventually(
      () => rows([z, w]),
      (r) =>
        r.length === 2 &&
        r.find((row) => row.event_id === w)?.status === 'permanently_failed' &&
        r.find((row) => row.event_id === z)?.status === 'pending',
      30_000,
    );
    expect(filed.find((r) => r.event_id === w)?.last_status_code).toBe(422);
    await request(t1.url)
      .post(`/api/v1/location/session/${session}/stop`)
      .set('Authorization', user.bearer)
      .expect(200);
    mended = true;
    clock.at += MINUTE;
    const [done] = await eventually(
      () => rows([z]),
      (r) => r[0].status !== 'pending',
      15_000,
    );
    expect(done).toMatchObject({ status: 'resolved', attempts: 2 });
    expect(calls).toBe(2); // the streamed attempt, then the retry after the session ended
    expect(sink.accepted.has(z)).toBe(true);

    const [{ id }] = await platformSql<{ id: string }>(
      'select id from failed_location_updates where event_id = $1',
      [w],
    );
    const replay = await request(t1.url)
      .post(`/retry/failed/${id}/retry`)
      .set('Authorization', a.owner.bearer);
    expect(replay.status).toBe(202);
    expect(new Date(replay.body.next_retry_at as string).getTime()).toBe(clock.at);
    const [replayed] = await eventually(
      () => rows([w]),
      (r) => r[0].status === 'resolved' || r[0].attempts > 1,
      15_000,
    );
    console.log(
      `ended session: retried row ${done.status} after ${calls} calls; replayed row ${replayed.status} (attempts ${replayed.attempts}); sink has both: ${sink.accepted.has(z) && sink.accepted.has(w)}`,
    );
    expect(replayed.status).toBe('resolved');
    expect(sink.accepted.has(w)).toBe(true);
    sink.decide = null;
  });
});
