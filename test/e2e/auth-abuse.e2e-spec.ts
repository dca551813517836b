import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { randomInt } from 'node:crypto';
import request from 'supertest';
import { authConfig, awsConfig } from '../../src/config';
import { AwsClients } from '../../src/shared/aws';
import { createTestApp, type TestApp } from '../support/app';
import { insertTenant, PASSWORD, tenantMember, uniqueEmail } from '../support/identities';

// TRUST_PROXY=127.0.0.1 in tests (test/support/env.ts): the test client is the trusted proxy, so
// X-Forwarded-For gives each test a client address of its own.
const randomIp = () => `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;

describe('Auth: abuse limits and failure modes', () => {
  let t: TestApp;
  let setup: TestApp;
  let tenantId: string;

  beforeAll(async () => {
    // Low limits here; members are made through an app with the test defaults (every login of
    // the suite comes from 127.0.0.1).
    t = await createTestApp({
      override: (b) =>
        b
          .overrideProvider(authConfig.KEY)
          .useValue({ ...authConfig(), limitPerAccount: 3, limitPerIp: 5, limitWindowSeconds: 60 }),
    });
    setup = await createTestApp();
    tenantId = await insertTenant({ allowSelfSignup: true });
  });
  afterAll(async () => {
    await t.close();
    await setup.close();
  });

  it('limits login attempts per account, whatever the address (429 with Retry-After)', async () => {
    const member = await tenantMember(setup, tenantId);
    const attempt = () =>
      request(t.url)
        .post('/api/v1/auth/login')
        .set('X-Forwarded-For', randomIp())
        .send({ email: member.email, password: 'wrong-password' });
    for (let i = 0; i < 2; i++) expect((await attempt()).status).toBe(401);
    const limited = await attempt();
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // The right password does not get around it either.
    const right = await request(t.url)
      .post('/api/v1/auth/login')
      .set('X-Forwarded-For', randomIp())
      .send({ email: member.email, password: PASSWORD });
    expect(right.status).toBe(429);
  });

  it('limits login and refresh attempts per address, whatever the account', async () => {
    const ip = randomIp();
    for (let i = 0; i < 5; i++) {
      const res = await request(t.url)
        .post('/api/v1/auth/login')
        .set('X-Forwarded-For', ip)
        .send({ email: uniqueEmail('spray'), password: 'x' });
      expect(res.status).toBe(401);
    }
    const limited = await request(t.url)
      .post('/api/v1/auth/refresh')
      .set('X-Forwarded-For', ip)
      .send({ refresh_token: 'whatever' });
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBeDefined();
    const elsewhere = await request(t.url)
      .post('/api/v1/auth/refresh')
      .set('X-Forwarded-For', randomIp())
      .send({ refresh_token: 'whatever' });
    expect(elsewhere.status).toBe(401);
  });

  it('answers 503 when Cognito does not answer', async () => {
    const real = new AwsClients(awsConfig());
    const down = await createTestApp({
      override: (b) =>
        b.overrideProvider(AwsClients).useValue({
          secretsManager: real.secretsManager,
          // Nothing listens on port 9: connection refused, as when Cognito is unreachable.
          cognito: new CognitoIdentityProviderClient({
            region: 'us-east-1',
            endpoint: 'http://127.0.0.1:9',
            maxAttempts: 1,
          }),
          onApplicationShutdown: () => undefined,
        }),
    });
    try {
      const res = await request(down.url)
        .post('/api/v1/auth/login')
        .send({ email: uniqueEmail('any'), password: PASSWORD });
      expect(res.status).toBe(503);
      expect(res.body.code).toBe('AUTH.IDENTITY_PROVIDER_UNAVAILABLE');
      const reg = await request(down.url)
        .post('/api/v1/auth/register')
        .send({ email: uniqueEmail('any'), password: PASSWORD, tenant_id: tenantId });
      expect(reg.status).toBe(503);
    } finally {
      await down.close();
      real.onApplicationShutdown();
    }
  });
});
