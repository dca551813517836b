import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import type { TestApp } from '../support/app';
import { type LocationTenant, startSession } from '../support/http-sink';
import { type FaultsFixture, faultsFixture, streamUpdates } from '../support/location-faults';
import { eventually, services } from '../support/services';

/**
 * The local broker's pid, found by its command line: the pid file of this checkout may be stale
 * when another checkout's scripts restarted the broker.
 */
async function kafkaBrokerPid(): Promise<number> {
  const { stdout } = await promisify(execFile)('pgrep', [
    '-f',
    'kafka\\.Kafka .*server\\.properties',
  ]);
  const pids = stdout.trim().split('\n').filter(Boolean);
  if (pids.length !== 1) throw new Error(`expected one local Kafka broker, found ${pids.length}`);
  return Number(pids[0]);
}

describe('Location fault test: the Kafka broker killed — no accepted update is lost', () => {
  let f: FaultsFixture;
  let t: TestApp;
  let a: LocationTenant;

  beforeAll(async () => {
    f = await faultsFixture('kafka-kill', 1);
    ({ t, tenant: a } = f);
  }, 120_000);
  afterAll(() => f?.close());

  const account = (label: string, accepted: string[]) => f.account(label, accepted);

  it('the Kafka broker killed (kill -9) for 10 s mid-stream: only 503s while down, no 202 that is then missing', async () => {
    const user = a.users[0];
    const session = await startSession(t, user);
    const s = streamUpdates(() => t.url, user, session, { concurrency: 4, pauseMs: 20 });
    try {
      await sleep(3_000);
      const pid = await kafkaBrokerPid();
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
