import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { KafkaService } from '../../src/shared/kafka';
import type { TestApp } from '../support/app';
import { type AppProcess, appReady, spawnApp, stopApp } from '../support/app-process';
import { type HttpSink, type LocationTenant, startSession } from '../support/http-sink';
import { type FaultsFixture, faultsFixture, streamUpdates } from '../support/location-faults';
import { eventually } from '../support/services';

/** How soon after its spawn a restarted instance must answer 202 again (it boots in ~2-4 s). */
const RESTART_BOUND_MS = 5_000;

/** Milliseconds from `since` until `probe` first holds (polled every 50 ms, up to 90 s); -1 if never. */
async function firstTimeAfter(since: number, probe: () => Promise<boolean>): Promise<number> {
  const ok = await eventually(probe, (held) => held, 90_000, 50);
  return ok ? Date.now() - since : -1;
}

/** The client ids of the location consumer groups' members now, by group (as the broker has them). */
async function groupMembers(t: TestApp): Promise<Record<string, string[]>> {
  const prefix = process.env.LOCATION_GROUP_PREFIX!;
  const names = ['persister', 'persister.parked', 'streamer', 'dlq'].map((n) => `${prefix}-${n}`);
  const admin = t.app.get(KafkaService).kafka.admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups(names);
    return Object.fromEntries(
      groups.map((g) => [g.groupId.slice(prefix.length + 1), g.members.map((m) => m.clientId)]),
    );
  } finally {
    await admin.disconnect();
  }
}

/** The consumer groups readiness lists (`kafka_consumers`), each with its state. */
function consumerGroups(body: unknown): Array<{ group: string; state: string }> {
  const details = (body as { details?: Record<string, { groups?: Record<string, string> }> })
    .details;
  const groups = details?.kafka_consumers?.groups ?? {};
  return Object.entries(groups).map(([group, state]) => ({ group, state }));
}

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

  it('the app killed with kill -9 mid-stream and started again on its port: 202s again within seconds, every 202 reaches locations and the sink or the ledger', async () => {
    const user = a.users[1];
    const session = await startSession(t, user);
    const duplicatesAtStart = sink.duplicates;
    // Each process its own client id: the broker's member list tells them apart.
    const firstSpawnedAt = Date.now();
    const first = await spawnApp({ KAFKA_CLIENT_ID: 'tessera-killed' });
    let second: AppProcess | undefined;
    try {
      await appReady(first);
      // A start with no dead member to wait for, on this machine under this run's load.
      const coldStart = Date.now() - firstSpawnedAt;
      const s = streamUpdates(() => first.url, user, session, { concurrency: 4, pauseMs: 10 });
      await eventually(
        () => Promise.resolve(s.result.accepted.length),
        (n) => n >= 100,
        30_000,
        100,
      );
      const killedAt = Date.now();
      first.process.kill('SIGKILL');
      await first.exited;
      const acceptedAtKill = s.result.accepted.length;
      const spawnedAt = Date.now();
      second = await spawnApp({ KAFKA_CLIENT_ID: 'tessera-restarted' }, first.port);
      const restarted = second;
      // Every request sent after the spawn can only be answered by the new process.
      const [listening, firstAccepted] = await Promise.all([
        firstTimeAfter(spawnedAt, () =>
          request(restarted.url)
            .get('/health/live')
            .then(
              (r) => r.status === 200,
              () => false,
            ),
        ),
        eventually(
          () => Promise.resolve(s.result.acceptedAt.find((at) => at.sent >= spawnedAt) ?? null),
          (at) => at !== null || restarted.process.exitCode !== null,
          90_000,
          20,
        ),
      ]);
      expect(firstAccepted).not.toBeNull();
      const toFirst202 = firstAccepted!.answered - spawnedAt;
      // The consumer groups join in the background: readiness lists them, and stays 200.
      const readiness = new Map<string, number>();
      const joined = await firstTimeAfter(spawnedAt, () =>
        request(restarted.url)
          .get('/health/ready')
          .then(
            (r) => {
              const groups = consumerGroups(r.body);
              const joining = groups.some((g) => g.state !== 'joined');
              const seen = `${r.status}${joining ? ' joining' : ''}`;
              readiness.set(seen, (readiness.get(seen) ?? 0) + 1);
              return r.status === 200 && groups.length > 0 && !joining;
            },
            () => false,
          ),
      );
      await eventually(
        () => Promise.resolve(s.result.accepted.length),
        (n) => n > acceptedAtKill + 200,
        60_000,
        100,
      );
      const result = await s.stop();
      console.log(
        `app kill -9 and restart on the same port: spawn→listening=${listening} ms spawn→first 202=${toFirst202} ms kill→first 202=${firstAccepted!.answered - killedAt} ms spawn→consumers joined=${joined} ms; readiness until joined=${JSON.stringify(Object.fromEntries(readiness))}; accepted before kill=${acceptedAtKill} total accepted=${result.accepted.length} answers=${JSON.stringify(Object.fromEntries(result.statuses))}`,
      );
      // Joining groups never make the instance unready (what waits, waits in Kafka).
      expect([...readiness.keys()].filter((seen) => !seen.startsWith('200'))).toEqual([]);
      expect(joined).toBeGreaterThan(0);
      await account('app kill -9 and restart', result.accepted);
      console.log(
        `app kill -9 and restart: duplicates at the sink in this test=${sink.duplicates - duplicatesAtStart}`,
      );
      // The requirement: a restarted instance takes updates again within seconds of its start,
      // not after the broker evicts its dead member (28 s before). The child compiles TypeScript
      // as it loads, which a loaded machine slows for any start: the bound is 5 s, or this run's
      // own cold start plus 2 s when the machine makes even that slower.
      const bound = Math.max(RESTART_BOUND_MS, coldStart + 2_000);
      console.log(
        `app kill -9 and restart: cold start (spawn→ready, no dead member)=${coldStart} ms; restart spawn→first 202=${toFirst202} ms; bound=${bound} ms`,
      );
      expect(toFirst202).toBeLessThan(bound);

      // A graceful stop leaves the groups at once (the next start waits for no session): none of
      // the restarted process's members is left right after it exited.
      await stopApp(second);
      const members = await groupMembers(t);
      console.log(`right after SIGTERM: members by group=${JSON.stringify(members)}`);
      expect(Object.values(members).flat()).not.toContain('tessera-restarted');
    } finally {
      first.process.kill('SIGKILL');
      await stopApp(second);
    }
  }, 300_000);
});
