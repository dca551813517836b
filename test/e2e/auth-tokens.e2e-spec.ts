import { register } from 'prom-client';
import request from 'supertest';
import { SessionStore } from '../../src/modules/auth';
import { createTestApp, type TestApp } from '../support/app';
import {
  accessTokenVia,
  decodePart,
  encodeJwt,
  motoKey,
  otherClientOfPool,
  otherPool,
  signHs256WithPublicKey,
  signRs256,
  signWithRogueKey,
} from '../support/forged-tokens';
import {
  createCognitoUser,
  type Identity,
  insertTenant,
  tenantMember,
  uniqueEmail,
} from '../support/identities';

/**
 * Every token below gets a live Redis session planted for it, so the session check would let it
 * through: only JWT verification stands between it and a 200.
 */
describe('Auth: the negative token matrix', () => {
  let t: TestApp;
  let tenantId: string;
  let member: Identity;
  let claims: Record<string, unknown>;
  let header: Record<string, unknown>;
  const key = motoKey();
  const now = () => Math.floor(Date.now() / 1000);

  const plant = async (token: string) => {
    await t.app.get(SessionStore).create(token, now() + 600, {
      userId: member.userId,
      email: member.email,
      tenantId,
      role: 'user',
      isPlatformAdmin: false,
      memberships: [],
      membershipVersion: await t.app.get(SessionStore).membershipVersion(member.userId),
    });
  };
  const me = (token: string) =>
    request(t.url).get('/api/v1/auth/me').set('Authorization', `Bearer ${token}`);
  const expectRejected = async (token: string) => {
    await plant(token);
    const res = await me(token);
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('AUTH.INVALID_TOKEN');
  };

  beforeAll(async () => {
    t = await createTestApp();
    tenantId = await insertTenant();
    member = await tenantMember(t, tenantId);
    header = decodePart(member.token, 0);
    claims = decodePart(member.token, 1);
  });
  afterAll(() => t.close());

  it('accepts a token signed with the pool key and valid claims (the control)', async () => {
    const token = signRs256(header, { ...claims, jti: 'control', exp: now() + 600 }, key);
    await plant(token);
    expect((await me(token)).status).toBe(200);
  });

  it("refuses another pool's token (iss)", async () => {
    const pool = await otherPool();
    const email = uniqueEmail('other-pool');
    await createCognitoUser(email, undefined, pool.poolId);
    await expectRejected(await accessTokenVia(pool.clientId, email));
    // The same claims signed by the same key, with only iss changed.
    await expectRejected(signRs256(header, { ...claims, iss: `${String(claims.iss)}x` }, key));
  });

  it('refuses an id token where an access token is due', async () => {
    await expectRejected(member.idToken);
  });

  it('refuses a token of another app client of the pool (client_id)', async () => {
    await expectRejected(await accessTokenVia(await otherClientOfPool(), member.email));
  });

  it('refuses an expired token', async () => {
    await expectRejected(signRs256(header, { ...claims, iat: now() - 7200, exp: now() - 60 }, key));
  });

  it('refuses a token not valid yet (nbf)', async () => {
    await expectRejected(
      signRs256(header, { ...claims, nbf: now() + 600, exp: now() + 1200 }, key),
    );
  });

  it('refuses alg none', async () => {
    await expectRejected(encodeJwt({ ...header, alg: 'none' }, claims));
    await expectRejected(encodeJwt({ alg: 'none', typ: 'JWT' }, claims));
  });

  it('refuses HS256 signed with the public key', async () => {
    await expectRejected(signHs256WithPublicKey(header, claims, key));
  });

  it('refuses an unknown kid, refetching the keys at most once per interval', async () => {
    const fetches = async () =>
      (await register.getSingleMetric('tessera_auth_jwks_fetches_total')!.get()).values.reduce(
        (sum, v) => sum + v.value,
        0,
      );
    const before = await fetches();
    await expectRejected(signWithRogueKey({ ...header, kid: 'rogue-1' }, claims));
    await expectRejected(signWithRogueKey({ ...header, kid: 'rogue-2' }, claims));
    await expectRejected(signWithRogueKey({ ...header, kid: 'rogue-3' }, claims));
    expect((await fetches()) - before).toBeLessThanOrEqual(1);
  });

  it('refuses a real token with a tampered payload', async () => {
    const [h, , s] = member.token.split('.');
    const payload = Buffer.from(JSON.stringify({ ...claims, username: 'someone-else' })).toString(
      'base64url',
    );
    await expectRejected(`${h}.${payload}.${s}`);
  });

  it('refuses a session-less valid token, and garbage', async () => {
    const token = signRs256(header, { ...claims, jti: 'no-session', exp: now() + 600 }, key);
    const res = await me(token);
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('AUTH.SESSION_ENDED');
    expect((await me('not-a-jwt')).status).toBe(401);
    expect((await request(t.url).get('/api/v1/auth/me')).status).toBe(401);
  });
});
