import { EventEmitter2 } from '@nestjs/event-emitter';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import WebSocket from 'ws';
import { createTestApp, type TestApp } from '../support/app';
import {
  createTenant,
  type Identity,
  login,
  platformAdmin,
  tenantMember,
  uniqueEmail,
} from '../support/identities';
import { FEED_BOUNDS } from '../../src/modules/events/lifecycle-feed.listener';
import { eventually } from '../support/services';
import { adminSql, sqlAs } from '../support/tenancy';

type Tenant = { id: string; api_key: string };
type Event = {
  seq: number | null;
  source: string;
  event_type: string;
  metadata: Record<string, unknown>;
};

/** The other modules' lifecycle facts in the tenant feed: stored (or live only) and pushed. */
describe('events: lifecycle facts of tenancy, auth, location and messaging in the feed', () => {
  let t: TestApp;
  let admin: Identity;
  let a: Tenant;
  let b: Tenant;
  let ownerA: Identity;
  const pushedA: Event[] = [];
  const pushedB: Event[] = [];
  const sockets: WebSocket[] = [];

  const feedOf = (tenant: Tenant, query: Record<string, string>) =>
    request(t.url).get('/api/v1/events').set('X-API-Key', tenant.api_key).query(query);
  const openFeed = (tenant: Tenant, sink: Event[]) =>
    new Promise<void>((resolve, reject) => {
      const socket = new WebSocket(t.url.replace('http', 'ws') + '/api/v1/ws', {
        headers: { 'x-api-key': tenant.api_key },
      });
      sockets.push(socket);
      socket.on('message', (raw: Buffer) => {
        const frame = JSON.parse(raw.toString()) as { type: string; data: Event };
        if (frame.type === 'hello') resolve();
        if (frame.type === 'event') sink.push(frame.data);
      });
      socket.once('error', reject);
    });
  const waitFor = (sink: Event[], type: string) =>
    eventually(
      () => Promise.resolve(sink.filter((e) => e.event_type === type)),
      (found) => found.length > 0,
      15_000,
      50,
    );

  beforeAll(async () => {
    t = await createTestApp();
    admin = await platformAdmin(t);
    a = await createTenant(t, admin);
    b = await createTenant(t, admin);
    await Promise.all([openFeed(a, pushedA), openFeed(b, pushedB)]);
    ownerA = await tenantMember(t, a.id, 'tenant_owner');
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await t.close();
  });

  it('a login puts session.created (source auth) in that tenant only', async () => {
    const [created] = await waitFor(pushedA, 'session.created');
    expect(created).toMatchObject({ source: 'auth', metadata: { session_id: ownerA.sessionId } });
    expect(typeof created.seq).toBe('number');
    expect(pushedB.filter((e) => e.event_type === 'session.created')).toHaveLength(0);
  });

  it('adding a user puts user.added (source tenancy) in the feed, stored and pushed, nothing in another tenant', async () => {
    const email = uniqueEmail('added');
    const res = await request(t.url)
      .post('/api/v1/tenant/users')
      .set('Authorization', ownerA.bearer)
      .send({ email, role: 'user', temporary_password: 'Temp0rary!pass' });
    expect(res.status).toBe(201);
    const [pushed] = await waitFor(pushedA, 'user.added');
    expect(pushed).toMatchObject({ source: 'tenancy', metadata: { email, role: 'user' } });
    const stored = await feedOf(a, { event_type: 'user.added', source: 'tenancy' });
    expect(stored.body.data).toHaveLength(1);
    expect((await feedOf(b, { event_type: 'user.added' })).body.data).toHaveLength(0);
    expect(pushedB.filter((e) => e.event_type === 'user.added')).toHaveLength(0);
  });

  it('revoking a session puts session.revoked in the feed', async () => {
    const member = await tenantMember(t, a.id, 'user');
    const again = await login(t, member.email, member.password, { tenant_id: a.id });
    const res = await request(t.url)
      .delete(`/api/v1/auth/sessions/${member.sessionId}`)
      .set('Authorization', again.bearer);
    expect(res.status).toBe(204);
    const revoked = await eventually(
      () =>
        Promise.resolve(
          pushedA.filter(
            (e) => e.event_type === 'session.revoked' && e.metadata.session_id === member.sessionId,
          ),
        ),
      (found) => found.length > 0,
      15_000,
      50,
    );
    expect(revoked[0]).toMatchObject({
      source: 'auth',
      metadata: { reason: 'revoked', user_id: member.userId },
    });
    const stored = await eventually(
      async () => (await feedOf(a, { event_type: 'session.revoked' })).body.data as Event[],
      (rows) => rows.length > 0,
      10_000,
    );
    expect(stored[0].metadata.session_id).toBe(member.sessionId);
    expect(pushedB.filter((e) => e.event_type === 'session.revoked')).toHaveLength(0);
  });

  it('location and messaging facts: stored and pushed; location.delivered and message.processed pushed live only (seq null)', async () => {
    const emitter = t.app.get(EventEmitter2);
    const sessionId = randomUUID();
    emitter.emit('location.session.started', {
      tenantId: a.id,
      sessionId,
      userId: 'u1',
      expiresAt: new Date('2030-01-01T00:00:00Z'),
    });
    emitter.emit('location.update.delivered', {
      tenantId: a.id,
      sessionId,
      eventId: randomUUID(),
      latencyMs: 12,
    });
    emitter.emit('messaging.message.processed', {
      tenantId: a.id,
      messageId: 'm0',
      queueName: 'q',
      attempts: 1,
    });
    emitter.emit('messaging.message.failed', {
      tenantId: a.id,
      messageId: 'm1',
      queueName: 'q',
      attempts: 3,
      lastError: 'boom',
    });
    const [started] = await waitFor(pushedA, 'session.started');
    expect(started).toMatchObject({
      source: 'location',
      metadata: { session_id: sessionId, expires_at: '2030-01-01T00:00:00.000Z' },
    });
    const [delivered] = await waitFor(pushedA, 'location.delivered');
    expect(delivered).toMatchObject({
      source: 'location',
      seq: null,
      metadata: { latency_ms: 12 },
    });
    const [failed] = await waitFor(pushedA, 'message.failed');
    expect(failed).toMatchObject({
      source: 'messaging',
      metadata: { queue_name: 'q', last_error: 'boom' },
    });
    const [processed] = await waitFor(pushedA, 'message.processed');
    expect(processed).toMatchObject({
      source: 'messaging',
      seq: null,
      metadata: { message_id: 'm0', queue_name: 'q' },
    });
    expect((await feedOf(a, { event_type: 'location.delivered' })).body.data).toHaveLength(0);
    expect((await feedOf(a, { event_type: 'message.processed' })).body.data).toHaveLength(0);
    expect((await feedOf(a, { event_type: 'message.failed' })).body.data).toHaveLength(1);
    expect((await feedOf(a, { event_type: 'session.started' })).body.data).toHaveLength(1);
  });

  it('a fact the feed cannot store (unknown tenant, no tenant, odd payload) never breaks its producer', async () => {
    const emitter = t.app.get(EventEmitter2);
    expect(() =>
      emitter.emit('messaging.queue.scaled', {
        tenantId: randomUUID(),
        queueName: 'q',
        workers: 2,
      }),
    ).not.toThrow();
    expect(() =>
      emitter.emit('auth.session.created', { tenantId: null, userId: 'admin', sessionId: 's' }),
    ).not.toThrow();
    expect(() => emitter.emit('messaging.queue.scaled', null)).not.toThrow();
    await expect(emitter.emitAsync('messaging.queue.scaled', 'text')).resolves.toBeDefined();
    // The feed keeps working afterwards.
    emitter.emit('messaging.queue.scaled', { tenantId: a.id, queueName: 'after', workers: 4 });
    const [scaled] = await waitFor(pushedA, 'queue.scaled');
    expect(scaled.metadata).toEqual({ queue_name: 'after', workers: 4 });
  });

  it('a tenant whose feed writes fail for a while gets its facts once they pass, holds at most its bound (the rest dropped and counted), and holds up no other tenant', async () => {
    const emitter = t.app.get(EventEmitter2);
    const database = process.env.TENANT_DATABASE_NAME ?? 'tessera_tenants_test';
    const owner = { user: 'tessera_owner', password: 'tessera_owner', database };
    const marker = randomUUID();
    const fn = `feed_outage_${marker.replace(/-/g, '')}`;
    const metric = async (series: string) => {
      const text = (await request(t.url).get('/metrics')).text;
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line ? Number(line.slice(series.length + 1)) : 0;
    };
    const storedOf = async (tenant: Tenant) =>
      Number(
        (
          await adminSql<{ n: string }>(
            `select count(*) as n from events where tenant_id = $1 and metadata->>'marker' = $2`,
            [tenant.id, marker],
            database,
          )
        )[0].n,
      );
    // This tenant's series (the feed's figures carry tenant_id).
    const dropped = `tessera_feed_facts_dropped_total{reason="tenant_limit",tenant_id="${a.id}"}`;
    const retries = `tessera_feed_flush_retries_total{tenant_id="${a.id}"}`;

    // Only this tenant's facts of this test fail to insert, until the trigger goes.
    await sqlAs(
      owner,
      `create function ${fn}() returns trigger language plpgsql as $$
         begin
           if new.tenant_id = '${a.id}' and new.metadata->>'marker' = '${marker}' then
             raise exception 'feed outage';
           end if;
           return new;
         end $$;
       create trigger ${fn} before insert on events for each row execute function ${fn}();`,
    );
    try {
      // Nothing of A's waiting from earlier tests: the bound is all this test's.
      expect(
        await eventually(
          () => metric('tessera_feed_facts_held'),
          (n) => n === 0,
          15_000,
          50,
        ),
      ).toBe(0);
      const before = { dropped: await metric(dropped), retries: await metric(retries) };
      const emitted = FEED_BOUNDS.maxHeldPerTenant + 40;
      for (let i = 0; i < emitted; i++) {
        emitter.emit('messaging.queue.scaled', {
          tenantId: a.id,
          queueName: 'q',
          workers: i,
          marker,
        });
      }
      for (let i = 0; i < 5; i++) {
        emitter.emit('messaging.queue.scaled', {
          tenantId: b.id,
          queueName: 'q',
          workers: i,
          marker,
        });
      }
      // B's facts land while A's writes keep failing and are tried again.
      const storedB = await eventually(
        () => storedOf(b),
        (n) => n === 5,
        15_000,
        50,
      );
      const retried = await eventually(
        () => metric(retries),
        (n) => n - before.retries >= 2,
        15_000,
        50,
      );
      const storedADuringOutage = await storedOf(a);
      await sqlAs(owner, `drop trigger ${fn} on events; drop function ${fn}();`);

      const stored = await eventually(
        () => storedOf(a),
        (n) => n === FEED_BOUNDS.maxHeldPerTenant,
        30_000,
        100,
      );
      const droppedNow = (await metric(dropped)) - before.dropped;
      console.log(
        `feed outage: tenant A emitted ${emitted}, stored ${storedADuringOutage} during the outage and ${stored} after, ` +
          `dropped ${droppedNow} (bound ${FEED_BOUNDS.maxHeldPerTenant}), write retries ${retried - before.retries}; ` +
          `tenant B emitted 5, stored ${storedB} during A's outage`,
      );
      expect(storedB).toBe(5);
      expect(retried - before.retries).toBeGreaterThanOrEqual(2);
      expect(storedADuringOutage).toBe(0);
      expect(stored).toBe(FEED_BOUNDS.maxHeldPerTenant);
      expect(droppedNow).toBe(emitted - FEED_BOUNDS.maxHeldPerTenant);
      expect(await metric('tessera_feed_facts_held')).toBe(0);
    } finally {
      await sqlAs(
        owner,
        `drop trigger if exists ${fn} on events; drop function if exists ${fn}();`,
      );
    }
  });
});
