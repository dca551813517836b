import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { createTestApp, type TestApp } from '../support/app';
import {
  isolateLocationTopics,
  locationTenant,
  type LocationTenant,
  platformAdmin,
  startSession,
} from '../support/http-sink';
import { eventually } from '../support/services';
import { adminSql } from '../support/tenancy';

describe('Location: sessions, validation, updates and expiry', () => {
  let t: TestApp;
  let a: LocationTenant;
  let b: LocationTenant;

  beforeAll(async () => {
    isolateLocationTopics('sessions');
    process.env.LOCATION_EXPIRY_INTERVAL_MS = '500';
    t = await createTestApp();
    const admin = await platformAdmin(t);
    a = await locationTenant(t, admin, 2);
    b = await locationTenant(t, admin, 1);
  }, 120_000);
  afterAll(async () => {
    delete process.env.LOCATION_EXPIRY_INTERVAL_MS;
    await t?.close();
  });

  const api = () => request(t.url);

  it('starts with an empty body (600 s), refuses a second active session, accepts the seed alias', async () => {
    const [user] = a.users;
    const first = await api()
      .post('/api/v1/location/session/start')
      .set('Authorization', user.bearer);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ status: 'active', duration_seconds: 600 });
    const second = await api()
      .post('/api/v1/location/session/start')
      .set('Authorization', user.bearer)
      .send({});
    expect(second.status).toBe(409);
    const stopped = await api()
      .post(`/location/session/${first.body.id}/stop`)
      .set('Authorization', user.bearer);
    expect(stopped.status).toBe(200);
    expect(stopped.body.status).toBe('ended');
    expect(typeof stopped.body.ended_at).toBe('string');
    expect(stopped.body.duration_seconds).toBeLessThan(600);
    const again = await api()
      .post(`/location/session/${first.body.id}/stop`)
      .set('Authorization', user.bearer);
    expect(again.status).toBe(409);
    const alias = await api()
      .post('/location/session/start')
      .set('Authorization', user.bearer)
      .send({ duration: 120 });
    expect(alias.status).toBe(201);
    expect(alias.body.duration_seconds).toBe(120);
    await api()
      .post(`/location/session/${alias.body.id}/stop`)
      .set('Authorization', user.bearer)
      .expect(200);
  });

  it.each([
    [{ duration_seconds: 59 }, 'duration_seconds'],
    [{ duration_seconds: 86_401 }, 'duration_seconds'],
    [{ duration: 'x' }, 'duration'],
    [{ duration_seconds: '600' }, 'duration_seconds'],
    [{ nonsense: true }, '(body)'],
  ])('refuses session start %j naming %s', async (body, field) => {
    const res = await api()
      .post('/api/v1/location/session/start')
      .set('Authorization', a.users[1].bearer)
      .send(body);
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body.details ?? res.body.message)).toContain(
      field === '(body)' ? '' : field,
    );
  });

  it('refuses a JSON null body on session start (an absent body is the empty one)', async () => {
    const res = await api()
      .post('/api/v1/location/session/start')
      .set('Authorization', a.users[1].bearer)
      .set('Content-Type', 'application/json')
      .send('null');
    expect(res.status).toBe(400);
  });

  it('validates updates: ranges (0.0 valid), recorded_at bounds, 404 foreign, 409 ended, 202 with event id', async () => {
    const [user] = a.users;
    const id = await startSession(t, user);
    const send = (body: Record<string, unknown>, who = user) =>
      api().post('/api/v1/location/update').set('Authorization', who.bearer).send(body);

    for (const [body, field] of [
      [{ session_id: id, latitude: 91, longitude: 0 }, 'latitude'],
      [{ session_id: id, latitude: -90.5, longitude: 0 }, 'latitude'],
      [{ session_id: id, latitude: 0, longitude: 180.1 }, 'longitude'],
      [{ session_id: id, latitude: '1', longitude: 0 }, 'latitude'],
      [{ session_id: 'nope', latitude: 0, longitude: 0 }, 'session_id'],
      [{ session_id: id, longitude: 0 }, 'latitude'],
      [
        {
          session_id: id,
          latitude: 0,
          longitude: 0,
          recorded_at: new Date(Date.now() + 120_000).toISOString(),
        },
        'recorded_at',
      ],
      [
        { session_id: id, latitude: 0, longitude: 0, timestamp: '2001-01-01T00:00:00Z' },
        'recorded_at',
      ],
      [{ session_id: id, latitude: 0, longitude: 0, timestamp: 'yesterday' }, 'timestamp'],
    ] as const) {
      const res = await send(body);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
      expect(JSON.stringify(res.body.details)).toContain(field);
    }
    const ok = await send({ session_id: id, latitude: 0.0, longitude: 0.0, accuracy: 5 });
    expect(ok.status).toBe(202);
    expect(ok.body).toEqual({ event_id: expect.any(String), status: 'accepted' });
    const alias = await api()
      .post('/location/update')
      .set('Authorization', user.bearer)
      .send({ session_id: id, latitude: 10, longitude: 20, timestamp: new Date().toISOString() });
    expect(alias.status).toBe(202);
    const batch = await api()
      .post('/api/v1/location/updates')
      .set('Authorization', user.bearer)
      .send({
        session_id: id,
        points: [1, 2, 3].map((n) => ({
          latitude: n,
          longitude: n,
          recorded_at: new Date().toISOString(),
        })),
      });
    expect(batch.status).toBe(202);
    expect(batch.body.event_ids).toHaveLength(3);
    const badBatch = await api()
      .post('/api/v1/location/updates')
      .set('Authorization', user.bearer)
      .send({ session_id: id, points: [{ latitude: 1, longitude: 1 }] });
    expect(badBatch.status).toBe(400);
    expect(JSON.stringify(badBatch.body.details)).toContain('points.0.recorded_at');

    // Another user of the same tenant, and another tenant's user: 404, never 409/202.
    expect((await send({ session_id: id, latitude: 1, longitude: 1 }, a.users[1])).status).toBe(
      404,
    );
    expect((await send({ session_id: id, latitude: 1, longitude: 1 }, b.users[0])).status).toBe(
      404,
    );
    expect((await send({ session_id: randomUUID(), latitude: 1, longitude: 1 })).status).toBe(404);

    await api()
      .post(`/api/v1/location/session/${id}/stop`)
      .set('Authorization', user.bearer)
      .expect(200);
    const late = await send({ session_id: id, latitude: 1, longitude: 1 });
    expect(late.status).toBe(409);
  });

  it('isolation: users see only their sessions, owners their tenant, other tenants nothing', async () => {
    const [u1, u2] = a.users;
    const s1 = await startSession(t, u1);
    const s2 = await startSession(t, u2);
    const get = (who: { bearer: string }, id: string) =>
      api().get(`/api/v1/location/session/${id}`).set('Authorization', who.bearer);
    expect((await get(u1, s1)).status).toBe(200);
    expect((await get(u1, s2)).status).toBe(404);
    expect((await get(a.owner, s2)).status).toBe(200);
    expect((await get(b.owner, s1)).status).toBe(404);
    expect((await get(b.users[0], s1)).status).toBe(404);
    expect(
      (await api().post(`/api/v1/location/session/${s1}/stop`).set('Authorization', b.owner.bearer))
        .status,
    ).toBe(404);
    expect(
      (
        await api()
          .get(`/api/v1/location/session/${s1}/locations`)
          .set('Authorization', b.owner.bearer)
      ).status,
    ).toBe(404);
    const mine = await api().get('/api/v1/location/sessions').set('Authorization', u1.bearer);
    expect(mine.status).toBe(200);
    expect(
      (mine.body.data as Array<{ user_id: string }>).every((s) => s.user_id === u1.userId),
    ).toBe(true);
    const all = await api()
      .get('/api/v1/location/sessions?status=active')
      .set('Authorization', a.owner.bearer);
    expect((all.body.data as Array<{ id: string }>).map((s) => s.id)).toEqual(
      expect.arrayContaining([s1, s2]),
    );
    const theirs = await api()
      .get('/api/v1/location/sessions')
      .set('Authorization', b.owner.bearer);
    expect((theirs.body.data as Array<{ id: string }>).map((s) => s.id)).not.toContain(s1);
    const page1 = await api()
      .get(`/api/v1/location/sessions?limit=1&user_id=${u1.userId}`)
      .set('Authorization', a.owner.bearer);
    expect(page1.body.data).toHaveLength(1);
    expect(page1.body.next_cursor).toEqual(expect.any(String));
    const bad = await api()
      .get('/api/v1/location/sessions?cursor=' + Buffer.from('["1","x"]').toString('base64url'))
      .set('Authorization', u1.bearer);
    expect(bad.status).toBe(400);
    for (const [who, id] of [
      [u1, s1],
      [u2, s2],
    ] as const) {
      await api()
        .post(`/api/v1/location/session/${id}/stop`)
        .set('Authorization', who.bearer)
        .expect(200);
    }
  });

  it('expiry: 60 s sessions of several tenants end within 5 s of expires_at; an update after expires_at is 409 at once', async () => {
    const people = [...a.users, b.users[0]];
    const ids: Array<{ tenant: string; id: string }> = [];
    for (const who of people) {
      const id = await startSession(t, who, { duration_seconds: 60 });
      ids.push({ tenant: who === b.users[0] ? b.id : a.id, id });
    }
    // Move the sessions' clocks: they started 58 s ago (the row is what the job reads).
    await adminSql(
      `update location_sessions set started_at = started_at - interval '58 seconds',
              expires_at = expires_at - interval '58 seconds' where id = any($1::uuid[])`,
      [ids.map((s) => s.id)],
      process.env.TENANT_DATABASE_NAME,
    );
    const rows = () =>
      adminSql<{ id: string; status: string; expires_at: Date; ended_at: Date | null }>(
        'select id, status, expires_at, ended_at from location_sessions where id = any($1::uuid[])',
        [ids.map((s) => s.id)],
        process.env.TENANT_DATABASE_NAME,
      );
    const done = await eventually(rows, (r) => r.every((s) => s.status === 'expired'), 20_000);
    const observed = Date.now();
    for (const row of done) {
      expect(row.status).toBe('expired');
      // Detected within 5 s of expiry (ended_at records expires_at itself).
      expect(observed - row.expires_at.getTime()).toBeLessThan(5_000 + 1_000);
    }
    const late = await api()
      .post('/api/v1/location/update')
      .set('Authorization', people[0].bearer)
      .send({ session_id: ids[0].id, latitude: 1, longitude: 1 });
    expect(late.status).toBe(409);
    console.log(`expiry: ${done.length} sessions of 2 tenants expired`);
  });
});
