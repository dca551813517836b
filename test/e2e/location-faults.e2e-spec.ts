import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import type { TestApp } from '../support/app';
import { type HttpSink, type LocationTenant, startSession } from '../support/http-sink';
import {
  type FaultsFixture,
  faultsFixture,
  freePort,
  streamUpdates,
} from '../support/location-faults';
import { eventually } from '../support/services';

const ROOT = resolve(__dirname, '../..');

describe('Location fault tests: sink down, app killed — no accepted update is lost', () => {
  let f: FaultsFixture;
  let t: TestApp;
  let a: LocationTenant;
  let sink: HttpSink;

  beforeAll(async () => {
    f = await faultsFixture('faults', 2);
    ({ t, tenant: a, sink } = f);
  }, 120_000);
  afterAll(() => f?.close());

  const account = (label: string, accepted: string[]) => f.account(label, accepted);

  it('the sink down for 30 s, then up: every 202 reaches locations and the sink or the ledger', async () => {
    const user = a.users[0];
    const session = await startSession(t, user);
    const duplicatesBefore = sink.duplicates;
    const s = streamUpdates(() => t.url, user, session, { concurrency: 2, pauseMs: 100 });
    await sleep(2_000);
    await sink.down();
    await sleep(30_000);
    await sink.up();
    await sleep(3_000);
    const result = await s.stop();
    expect(result.accepted.length).toBeGreaterThan(0);
    expect([...result.statuses.keys()]).toEqual([202]);
    const { byStatus } = await account('sink down 30 s', result.accepted);
    expect(byStatus.permanently_failed ?? 0).toBe(0);
    console.log(
      `sink down 30 s: duplicates at the sink in this test=${sink.duplicates - duplicatesBefore}`,
    );
    await request(t.url)
      .post(`/api/v1/location/session/${session}/stop`)
      .set('Authorization', user.bearer)
      .expect(200);
  }, 240_000);

  it('the app killed with kill -9 mid-stream and restarted: every 202 reaches locations and the sink or the ledger', async () => {
    const user = a.users[1];
    const session = await startSession(t, user);
    const startChild = async (): Promise<{ child: ChildProcess; url: string }> => {
      const port = await freePort();
      const child = spawn(process.execPath, ['-r', '@swc-node/register', 'src/main.ts'], {
        cwd: ROOT,
        env: { ...process.env, PORT: String(port), LOG_LEVEL: 'warn', NODE_ENV: 'test' },
        stdio: ['ignore', 'ignore', 'ignore'],
      });
      const url = `http://127.0.0.1:${port}`;
      const up = await eventually(
        () =>
          request(url)
            .get('/health/live')
            .then(
              (r) => r.status,
              () => 0,
            ),
        (status) => status === 200,
        90_000,
        300,
      );
      expect(up).toBe(200);
      return { child, url };
    };
    let current = await startChild();
    let second: { child: ChildProcess; url: string } | null = null;
    try {
      const s = streamUpdates(() => current.url, user, session, { concurrency: 4, pauseMs: 10 });
      await sleep(3_000);
      current.child.kill('SIGKILL');
      const acceptedAtKill = s.result.accepted.length;
      second = await startChild();
      current = second;
      await eventually(
        () => Promise.resolve(s.result.accepted.length),
        (n) => n > acceptedAtKill + 50,
        60_000,
        300,
      );
      const result = await s.stop();
      console.log(
        `app kill -9: accepted before kill=${acceptedAtKill} total accepted=${result.accepted.length} answers=${JSON.stringify(Object.fromEntries(result.statuses))}`,
      );
      await account('app kill -9 and restart', result.accepted);
    } finally {
      current.child.kill('SIGKILL');
      second?.child.kill('SIGKILL');
    }
  }, 300_000);
});
