import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import request from 'supertest';
import { authConfig } from '../../src/config';
import { createTestApp, type TestApp } from '../support/app';
import { type Identity, insertTenant, login, tenantMember } from '../support/identities';

const run = promisify(execFile);
const services = (action: 'up' | 'down') =>
  run('bash', ['scripts/services.sh', action, 'redis'], { cwd: process.cwd() });

describe('Auth: sessions, revocation and the session store', () => {
  let t: TestApp;
  let tenantId: string;

  beforeAll(async () => {
    t = await createTestApp();
    tenantId = await insertTenant();
  });
  afterAll(() => t.close());

  const me = (app: TestApp, who: Pick<Identity, 'bearer'>) =>
    request(app.url).get('/api/v1/auth/me').set('Authorization', who.bearer);

  it('revokes a logged-out token on every instance at once', async () => {
    const second = await createTestApp();
    try {
      const member = await tenantMember(t, tenantId);
      expect((await me(second, member)).status).toBe(200);
      await request(t.url)
        .post('/api/v1/auth/logout')
        .set('Authorization', member.bearer)
        .expect(204);
      const there = await me(second, member);
      expect(there.status).toBe(401);
      expect(there.body.code).toBe('AUTH.SESSION_ENDED');
    } finally {
      await second.close();
    }
  });

  it('logout ?all=true ends every session and revokes the refresh token (GlobalSignOut)', async () => {
    const member = await tenantMember(t, tenantId);
    const other = await login(t, member.email);
    const refreshed = await request(t.url)
      .post('/api/v1/auth/refresh')
      .send({ refresh_token: member.refreshToken });
    expect(refreshed.status).toBe(200);

    await request(t.url)
      .post('/api/v1/auth/logout?all=true')
      .set('Authorization', member.bearer)
      .expect(204);
    expect((await me(t, member)).status).toBe(401);
    expect((await me(t, other)).status).toBe(401);
    expect((await me(t, { bearer: `Bearer ${refreshed.body.access_token}` })).status).toBe(401);
    const again = await request(t.url)
      .post('/api/v1/auth/refresh')
      .send({ refresh_token: member.refreshToken });
    expect(again.status).toBe(401);
    expect(again.body.code).toBe('AUTH.INVALID_REFRESH_TOKEN');
  });

  it('lists and ends own sessions; another user’s session id is a 404', async () => {
    const alice = await tenantMember(t, tenantId);
    const aliceElsewhere = await login(t, alice.email);
    const bob = await tenantMember(t, tenantId);

    const listed = await request(t.url)
      .get('/api/v1/auth/sessions')
      .set('Authorization', alice.bearer);
    expect((listed.body.data as { id: string }[]).map((s) => s.id).sort()).toEqual(
      [alice.sessionId, aliceElsewhere.sessionId].sort(),
    );

    const foreign = await request(t.url)
      .delete(`/api/v1/auth/sessions/${aliceElsewhere.sessionId}`)
      .set('Authorization', bob.bearer);
    expect(foreign.status).toBe(404);
    expect((await me(t, aliceElsewhere)).status).toBe(200);

    const bad = await request(t.url)
      .delete('/api/v1/auth/sessions/not-a-uuid')
      .set('Authorization', alice.bearer);
    expect(bad.status).toBe(400);

    await request(t.url)
      .delete(`/api/v1/auth/sessions/${aliceElsewhere.sessionId}`)
      .set('Authorization', alice.bearer)
      .expect(204);
    expect((await me(t, aliceElsewhere)).status).toBe(401);
    expect((await me(t, alice)).status).toBe(200);
    const after = await request(t.url)
      .get('/api/v1/auth/sessions')
      .set('Authorization', alice.bearer);
    expect(after.body.data).toEqual([
      expect.objectContaining({ id: alice.sessionId, current: true }),
    ]);
  });

  it('writes last_seen_at at most once per interval', async () => {
    const fast = await createTestApp({
      override: (b) =>
        b
          .overrideProvider(authConfig.KEY)
          .useValue({ ...authConfig(), lastSeenIntervalSeconds: 1 }),
    });
    try {
      const member = await tenantMember(fast, tenantId);
      const seen = async () =>
        (
          (await request(fast.url).get('/api/v1/auth/sessions').set('Authorization', member.bearer))
            .body.data[0] as { last_seen_at: string }
        ).last_seen_at;
      const first = await seen();
      expect(await seen()).toBe(first);
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      await me(fast, member);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(Date.parse(await seen())).toBeGreaterThan(Date.parse(first));
    } finally {
      await fast.close();
    }
  });

  it('fails closed with 503 while Redis is down, and recovers without a restart', async () => {
    const member = await tenantMember(t, tenantId);
    expect((await me(t, member)).status).toBe(200);
    let during: request.Response;
    let loginDuring: request.Response;
    try {
      await services('down');
      during = await me(t, member);
      loginDuring = await request(t.url)
        .post('/api/v1/auth/login')
        .send({ email: member.email, password: member.password });
    } finally {
      await services('up');
    }
    expect(during.status).toBe(503);
    expect(during.body.code).toBe('AUTH.SESSION_STORE_UNAVAILABLE');
    expect(loginDuring.status).toBe(503);

    // Redis restarted empty: a new login works on the same app once the client reconnects.
    let recovered = 0;
    for (let i = 0; i < 50 && recovered !== 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const again = await request(t.url)
        .post('/api/v1/auth/login')
        .send({ email: member.email, password: member.password });
      if (again.status === 200)
        recovered = (await me(t, { bearer: `Bearer ${again.body.access_token}` })).status;
    }
    expect(recovered).toBe(200);
  });
});
