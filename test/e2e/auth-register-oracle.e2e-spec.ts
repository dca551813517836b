import { randomInt } from 'node:crypto';
import request from 'supertest';
import { createTestApp, type TestApp } from '../support/app';
import { insertTenant, PASSWORD, tenantMember } from '../support/identities';

// Each guess from an address of its own (TRUST_PROXY=127.0.0.1 in tests): only the per-account
// limit (AUTH_LOGIN_LIMIT_ACCOUNT, 10 by default) can stop them.
const randomIp = () => `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;

describe('register is no password oracle past the per-account limit', () => {
  let t: TestApp;
  let home: string;
  let open: string;
  let otherOpen: string;

  beforeAll(async () => {
    t = await createTestApp();
    home = await insertTenant();
    open = await insertTenant({ allowSelfSignup: true });
    otherOpen = await insertTenant({ allowSelfSignup: true });
  });
  afterAll(() => t.close());

  const register = (email: string, password: string, tenantId = open) =>
    request(t.url)
      .post('/api/v1/auth/register')
      .set('X-Forwarded-For', randomIp())
      .send({ email, password, tenant_id: tenantId });

  it('answers 429 after the per-account limit, to the right password too, as login does', async () => {
    const victim = await tenantMember(t, home);
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await register(victim.email, `guess-${i}`)).status);
    console.log('register guesses answered', statuses.join(' '));
    // The member's own login counted once: nine wrong guesses are answered, then 429.
    expect(statuses.filter((s) => s === 401)).toHaveLength(9);
    expect(statuses.slice(9)).toEqual([429, 429, 429]);

    const right = await register(victim.email, PASSWORD);
    expect(right.status).toBe(429);
    expect(right.body.code).toBe('AUTH.RATE_LIMITED');
    expect(Number(right.headers['retry-after'])).toBeGreaterThan(0);
    const login = await request(t.url)
      .post('/api/v1/auth/login')
      .set('X-Forwarded-For', randomIp())
      .send({ email: victim.email, password: PASSWORD });
    expect(login.status).toBe(429);
    // Nothing joined: the account is still only a member of its own tenant.
    const me = await request(t.url).get('/api/v1/auth/me').set('Authorization', victim.bearer);
    expect(me.body.memberships).toEqual([{ tenant_id: home, role: 'user' }]);
  });

  it('leaves other accounts alone', async () => {
    const bystander = await tenantMember(t, home);
    const joined = await register(bystander.email, PASSWORD, otherOpen);
    expect(joined.status).toBe(201);
    expect(joined.body.tenant_id).toBe(otherOpen);
  });
});
