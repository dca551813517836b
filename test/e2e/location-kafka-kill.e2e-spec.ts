import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
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
import { accountFor, streamUpdates } from '../support/location-faults';
import { eventually, services } from '../support/services';

const ROOT = resolve(__dirname, '../..');

describe('Location fault test: the Kafka broker killed — no accepted update is lost', () => {
  let t: TestApp;
  let sink: HttpSink;
  let a: LocationTenant;

  beforeAll(async () => {
    sink = await new HttpSink().start();
    isolateLocationTopics('kafka-kill');
    Object.assign(process.env, {
      LOCATION_DELIVERY_ALLOWED_HOSTS: `127.0.0.1:${sink.port}`,
      LOCATION_PRODUCE_TIMEOUT_MS: '1500',
      LOCATION_DELIVERY_TIMEOUT_MS: '2000',
      LOCATION_RETRY_BASE_MS: '2000',
      LOCATION_RETRY_INTERVAL_MS: '500',
      LOCATION_BREAKER_RESET_MS: '2000',
    });
    t = await createTestApp();
    const admin = await platformAdmin(t);
    a = await locationTenant(t, admin, 1);
    await setDelivery(t, a.owner, sink.url);
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    await sink?.close();
  });

  const account = (label: string, accepted: string[]) => accountFor(sink, label, accepted);

  it('the Kafka broker killed (kill -9) for 10 s mid-stream: only 503s while down, no 202 that is then missing', async () => {
    const user = a.users[0];
    const session = await startSession(t, user);
    const s = streamUpdates(() => t.url, user, session, { concurrency: 4, pauseMs: 20 });
    try {
      await sleep(3_000);
      const pid = Number(readFileSync(resolve(ROOT, '.cache/run/kafka.pid'), 'utf8').trim());
      s.openWindow();
      process.kill(pid, 'SIGKILL');
      await sleep(10_000);
      s.closeWindow();
      await services('up', 'kafka');
      // Streams on until the broker acknowledges again, then a little longer.
      const okBefore = s.result.accepted.length;
      await eventually(
        () => Promise.resolve(s.result.accepted.length),
        (n) => n > okBefore + 20,
        90_000,
        500,
      );
    } finally {
      await services('up', 'kafka');
    }
    const result = await s.stop();
    const during = Object.fromEntries(result.during);
    console.log(
      `kafka kill -9: answers while down=${JSON.stringify(during)} all=${JSON.stringify(Object.fromEntries(result.statuses))}`,
    );
    // While down: 503 (Retry-After), or a 202 only for a record the broker had acknowledged.
    expect(Object.keys(during).filter((code) => code !== '503' && code !== '202')).toEqual([]);
    expect(result.during.get(503) ?? 0).toBeGreaterThan(0);
    await account('kafka kill -9 10 s', result.accepted);
    await request(t.url)
      .post(`/api/v1/location/session/${session}/stop`)
      .set('Authorization', user.bearer)
      .expect(200);
  }, 300_000);
});
