import { PinoLogger } from 'nestjs-pino';
import pino from 'pino';
import request from 'supertest';
import { createTestApp, type TestApp } from '../support/app';
import {
  confirmSignUp,
  insertTenant,
  login,
  PASSWORD,
  tenantMember,
  uniqueEmail,
} from '../support/identities';
import { eventually } from '../support/services';

describe('Auth: register, confirm, login, me, sessions, refresh, logout', () => {
  let t: TestApp;
  let openTenant: string;

  beforeAll(async () => {
    t = await createTestApp();
    openTenant = await insertTenant({ allowSelfSignup: true });
  });
  afterAll(() => t.close());

  it('walks the whole flow against Cognito (moto) and Redis', async () => {
    const email = uniqueEmail('flow');
    const registered = await request(t.url)
      .post('/api/v1/auth/register')
      .send({ email, password: PASSWORD, tenant_id: openTenant, name: 'Flow' });
    expect(registered.status).toBe(201);
    expect(registered.body).toMatchObject({
      email,
      tenant_id: openTenant,
      role: 'user',
      confirmed: false,
    });

    const unconfirmed = await request(t.url)
      .post('/api/v1/auth/login')
      .send({ email, password: PASSWORD });
    expect(unconfirmed.status).toBe(403);
    expect(unconfirmed.body.code).toBe('AUTH.USER_NOT_CONFIRMED');

    await confirmSignUp(email);
    // `username` is the original systems' name for `email`; the legacy path is an alias.
    const loggedIn = await request(t.url)
      .post('/auth/login')
      .send({ username: email, password: PASSWORD });
    expect(loggedIn.status).toBe(200);
    expect(loggedIn.body).toMatchObject({
      token_type: 'Bearer',
      user: {
        user_id: registered.body.user_id,
        email,
        role: 'user',
        tenant_id: openTenant,
        is_admin: false,
      },
    });
    for (const field of ['access_token', 'id_token', 'refresh_token', 'session_id']) {
      expect(typeof loggedIn.body[field]).toBe('string');
    }
    const bearer = `Bearer ${loggedIn.body.access_token}`;

    const me = await request(t.url).get('/api/v1/auth/me').set('Authorization', bearer);
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({
      user_id: registered.body.user_id,
      email,
      tenant_id: openTenant,
      role: 'user',
      memberships: [{ tenant_id: openTenant, role: 'user' }],
    });

    const refreshed = await request(t.url)
      .post('/api/v1/auth/refresh')
      .send({ refresh_token: loggedIn.body.refresh_token });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.access_token).not.toBe(loggedIn.body.access_token);
    expect(refreshed.body.session_id).not.toBe(loggedIn.body.session_id);
    expect(refreshed.body.refresh_token).toBe(loggedIn.body.refresh_token);

    const sessions = await request(t.url).get('/api/v1/auth/sessions').set('Authorization', bearer);
    expect(sessions.status).toBe(200);
    expect(sessions.body.data).toHaveLength(2);
    const current = (sessions.body.data as { id: string; current: boolean }[]).find(
      (s) => s.current,
    )!;
    expect(current.id).toBe(loggedIn.body.session_id);
    expect(current).toMatchObject({ tenant_id: openTenant, ip: expect.any(String) });

    const out = await request(t.url).post('/api/v1/auth/logout').set('Authorization', bearer);
    expect(out.status).toBe(204);
    const after = await request(t.url).get('/api/v1/auth/me').set('Authorization', bearer);
    expect(after.status).toBe(401);
    expect(after.body.code).toBe('AUTH.SESSION_ENDED');

    // The refreshed session is another session: it still works.
    const other = await request(t.url)
      .get('/api/v1/auth/me')
      .set('Authorization', `Bearer ${refreshed.body.access_token}`);
    expect(other.status).toBe(200);
  });

  it('answers a wrong password and an unknown user with the same 401', async () => {
    const member = await tenantMember(t, openTenant);
    const wrong = await request(t.url)
      .post('/api/v1/auth/login')
      .send({ email: member.email, password: 'not-the-password' });
    const unknown = await request(t.url)
      .post('/api/v1/auth/login')
      .send({ email: uniqueEmail('ghost'), password: PASSWORD });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.body.message).toBe(unknown.body.message);
    expect(wrong.body.code).toBe(unknown.body.code);
  });

  it('answers bad input with 400 and the field', async () => {
    const res = await request(t.url).post('/api/v1/auth/login').send({ password: 'x' });
    expect(res.status).toBe(400);
    expect(res.body.details).toEqual(
      expect.arrayContaining([expect.objectContaining({ field: 'email' })]),
    );
  });

  it('logs in again after a logout', async () => {
    const member = await tenantMember(t, openTenant);
    await request(t.url)
      .post('/api/v1/auth/logout')
      .set('Authorization', member.bearer)
      .expect(204);
    const again = await login(t, member.email);
    await request(t.url).get('/api/v1/auth/me').set('Authorization', again.bearer).expect(200);
  });
  it('writes one line per request with its request id and tenant id, redacted, and none for health probes', async () => {
    const member = await tenantMember(t, openTenant);
    const root = PinoLogger.root as unknown as Record<symbol, unknown> & { level: string };
    const lines: Record<string, unknown>[] = [];
    const [stream, level] = [root[pino.symbols.streamSym], root.level];
    root[pino.symbols.streamSym] = {
      write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>),
    };
    root.level = 'info';
    try {
      await request(t.url)
        .get('/api/v1/auth/me')
        .set('Authorization', member.bearer)
        .set('X-Request-ID', 'log-line-1')
        .expect(200);
      await request(t.url).get('/health/live').expect(200);
      await request(t.url).get('/api/v1/auth/me').set('X-Request-ID', 'log-line-2').expect(401);
      // The line is written once the answer is sent: maybe after the client read it.
      await eventually(
        () => Promise.resolve(lines.length),
        (n) => n >= 2,
        5_000,
        20,
      );
    } finally {
      root.level = level;
      root[pino.symbols.streamSym] = stream;
    }
    console.log(`request log lines: ${lines.map((l) => JSON.stringify(l)).join('\n')}`);
    expect(lines).toEqual([
      expect.objectContaining({
        msg: 'request completed',
        request_id: 'log-line-1',
        tenant_id: openTenant,
        req: expect.objectContaining({
          method: 'GET',
          url: '/api/v1/auth/me',
          headers: expect.objectContaining({ authorization: '[redacted]' }),
        }) as unknown,
        res: expect.objectContaining({ statusCode: 200 }) as unknown,
      }),
      expect.objectContaining({
        msg: 'request completed',
        request_id: 'log-line-2',
        res: expect.objectContaining({ statusCode: 401 }) as unknown,
      }),
    ]);
  });
});
