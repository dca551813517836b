import { randomBytes } from 'node:crypto';
import {
  bearerAuth,
  createTesseraClient,
  FeedClient,
  type FeedEvent,
  type TesseraClient,
  unwrap,
} from '../../packages/client/src/index.js';
import { type AppProcess, appReady, spawnApp, stopApp } from '../support/app-process';
import { isolateLocationTopics } from '../support/http-sink';
import { createCognitoUser, PASSWORD, platformSql, uniqueEmail } from '../support/identities';
import { eventually } from '../support/services';
import { TcpProxy } from '../support/tcp-proxy';

/**
 * A tenant's journey through the typed client package only (`@tessera/client`): an owner signs
 * in, makes an API key, tracks a location session, publishes messages and scales a queue, and
 * posts events, while a FeedClient on one app instance (behind a TCP proxy the test controls)
 * follows the tenant's feed. The feed is cut three times: its connection killed, its instance
 * stopped with SIGTERM and started again on the same port, its instance killed with
 * SIGKILL and started again. It still sees every stored event of the tenant exactly once, in seq
 * order. REST calls go to a second instance, which stays up.
 */
describe('client journey: REST client and FeedClient across socket drops and instance restarts', () => {
  let feedApp: AppProcess | undefined; // the instance the feed's socket reaches (through `door`)
  let restApp: AppProcess | undefined; // the instance the REST calls go to
  let door: TcpProxy;
  let feed: FeedClient | undefined;

  const restart = async (signal: 'SIGTERM' | 'SIGKILL', during: () => Promise<unknown>) => {
    const port = feedApp!.port;
    if (signal === 'SIGTERM') await stopApp(feedApp);
    else {
      feedApp!.process.kill('SIGKILL');
      await feedApp!.exited;
    }
    await during(); // events posted while the instance is down
    feedApp = await spawnApp({}, port);
    await appReady(feedApp);
  };

  beforeAll(async () => {
    isolateLocationTopics('journey');
    [feedApp, restApp] = await Promise.all([spawnApp(), spawnApp()]);
    await Promise.all([appReady(feedApp), appReady(restApp)]);
    door = await TcpProxy.start({ port: feedApp.port });
  }, 180_000);
  afterAll(async () => {
    feed?.close();
    await door?.close();
    await Promise.all([stopApp(feedApp), stopApp(restApp)]);
  });

  it('an owner signs in, makes a key, tracks, publishes, scales and posts: the feed sees every event once, in seq order, through three cuts', async () => {
    // The test's own setup: a platform admin (no route makes one).
    const adminEmail = uniqueEmail('admin');
    const adminId = await createCognitoUser(adminEmail);
    await platformSql('insert into platform_admins (user_id, email) values ($1, $2)', [
      adminId,
      adminEmail,
    ]);
    const baseUrl = restApp!.url;
    const admin = createTesseraClient({ baseUrl });
    admin.setAuth(
      bearerAuth(
        await unwrap(
          admin.POST('/api/v1/auth/login', { body: { email: adminEmail, password: PASSWORD } }),
        ),
      ),
    );
    const tenant = await unwrap(
      admin.POST('/api/v1/tenants', {
        body: { name: `journey-${randomBytes(4).toString('hex')}` },
      }),
    );
    const ownerEmail = uniqueEmail('owner');
    const temporary = `Temp-${randomBytes(6).toString('hex')}1!`;
    await unwrap(
      admin.POST('/api/v1/tenants/{id}/users', {
        params: { path: { id: tenant.id } },
        body: { email: ownerEmail, role: 'tenant_owner', temporary_password: temporary },
      }),
    );

    // The owner signs in (answering the temporary password's challenge) and makes an API key.
    const owner: TesseraClient = createTesseraClient({ baseUrl });
    const tokens = await unwrap(
      owner.POST('/api/v1/auth/login', {
        body: {
          email: ownerEmail,
          password: temporary,
          new_password: PASSWORD,
          tenant_id: tenant.id,
        },
      }),
    );
    expect(tokens.user).toMatchObject({ role: 'tenant_owner', tenant_id: tenant.id });
    owner.setAuth(bearerAuth(tokens));
    const key = await unwrap(
      owner.POST('/api/v1/tenants/{id}/api-keys', { params: { path: { id: tenant.id } } }),
    );
    const service = createTesseraClient({ baseUrl, auth: { apiKey: key.api_key } });

    // The feed, from the tenant's first event on.
    feed = new FeedClient({
      baseUrl: door.url('http'),
      credential: { apiKey: key.api_key },
      sinceSeq: 0,
      backoff: { initialMs: 100, maxMs: 1_000 },
    });
    const received: FeedEvent[] = [];
    let liveOnly = 0;
    feed.on('event', (event) => (event.seq === null ? liveOnly++ : received.push(event)));
    const gaps: unknown[] = [];
    feed.on('gap', (gap) => gaps.push(gap));
    const disconnects: number[] = [];
    feed.on('disconnect', ({ code }) => disconnects.push(code));
    const opened = new Promise((resolve) => feed!.on('open', resolve));
    feed.start();
    await opened;

    // Location: a session and a few updates (the owner is the user tracked).
    const session = await unwrap(
      owner.POST('/api/v1/location/session/start', { body: { duration_seconds: 300 } }),
    );
    for (let i = 0; i < 5; i++)
      await unwrap(
        owner.POST('/api/v1/location/update', {
          body: { session_id: session.id, latitude: 52.5 + i / 1000, longitude: 13.4 },
        }),
      );
    // Messaging: a few messages on the default queue, and the queue scaled.
    for (let i = 0; i < 5; i++)
      await unwrap(
        service.POST('/api/v1/messages', {
          body: { payload: { journey: i }, queue_name: 'default' },
        }),
      );
    await unwrap(
      owner.PUT('/api/v1/tenants/{id}/consumers/{queue_name}/config', {
        params: { path: { id: tenant.id, queue_name: 'default' } },
        body: { workers: 3 },
      }),
    );

    // Events, in bursts around the three cuts.
    const posted: number[] = [];
    const burst = async (label: string, count: number) => {
      for (let i = 0; i < count; i++) {
        const event = await unwrap(
          service.POST('/api/v1/events', {
            body: { event_type: `journey.${label}`, metadata: { i } },
          }),
        );
        posted.push(event.seq);
      }
    };
    // Each cut meets a feed that is connected again after the previous one.
    const connected = (count: number) =>
      eventually(
        () => Promise.resolve(feed!.stats.connections),
        (n) => n >= count,
        60_000,
        50,
      );
    await burst('before', 15);
    door.cut(); // 1: the feed's connection killed
    await burst('after-cut', 15);
    await connected(2);
    const beforeStop = disconnects.length;
    await restart('SIGTERM', () => burst('during-restart', 15)); // 2: stopped, then refused
    const stopCode = disconnects[beforeStop];
    await burst('after-restart', 15);
    await connected(3);
    await restart('SIGKILL', () => burst('during-kill', 15)); // 3: killed, then refused
    await burst('after-kill', 15);
    await connected(4);
    const last = posted[posted.length - 1];

    await eventually(
      () => Promise.resolve(feed!.lastSeq ?? 0),
      (seq) => seq >= last,
      60_000,
      100,
    );

    // Every stored event of the tenant up to the last one posted, read back through the client.
    const stored: number[] = [];
    let cursor: string | undefined;
    do {
      const page = await unwrap(
        service.GET('/api/v1/events', { params: { query: { limit: 100, cursor } } }),
      );
      stored.push(...page.data.map((event) => event.seq));
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    const expected = stored.filter((seq) => seq <= last).sort((a, b) => a - b);
    const got = received.map((event) => event.seq!).filter((seq) => seq <= last);
    const counts = new Map<number, number>();
    for (const seq of got) counts.set(seq, (counts.get(seq) ?? 0) + 1);
    const missing = expected.filter((seq) => !counts.has(seq));
    const twice = [...counts].filter(([, n]) => n > 1).map(([seq]) => seq);
    const outOfOrder = got.filter((seq, i) => i > 0 && seq <= got[i - 1]).length;
    const facts = new Set(
      received.filter((e) => !e.event_type.startsWith('journey.')).map((e) => e.event_type),
    );

    console.log(
      `client journey: events posted ${posted.length} (stored up to the last: ${expected.length}, ` +
        `facts among them: ${[...facts].sort().join(', ')}), received ${got.length} ` +
        `(+${liveOnly} live-only), duplicates dropped ${feed.stats.duplicates}, gaps ${gaps.length}, ` +
        `reconnects ${feed.stats.reconnects} (closes: ${disconnects.join(', ')}; at SIGTERM ${stopCode}), ` +
        `missing ${missing.length}, twice ${twice.length}, out of order ${outOfOrder}`,
    );
    expect(missing).toEqual([]);
    expect(twice).toEqual([]);
    expect(outOfOrder).toBe(0);
    expect(got).toEqual(expected);
    expect(posted.every((seq) => counts.get(seq) === 1)).toBe(true);
    expect(gaps).toEqual([]);
    // A stopping instance says so (1001 going away) instead of dropping the socket.
    expect(stopCode).toBe(1001);
    expect(feed.stats.reconnects).toBeGreaterThanOrEqual(3);
    // The lifecycle facts of the journey arrived in the same feed.
    for (const type of ['api_key.issued', 'user.added', 'session.started', 'queue.scaled'])
      expect(facts).toContain(type);
    expect(feed.closeReason).toBeNull();
  }, 300_000);
});
