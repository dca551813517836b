import request from 'supertest';
import { authConfig, awsConfig, redisConfig, tenancyConfig } from '../../src/config';
import { createTestApp, type TestApp } from '../support/app';
import {
  createTenant,
  type Identity,
  insertTenant,
  platformAdmin,
  tenantMember,
} from '../support/identities';
import { eventually } from '../support/services';
import { TcpProxy } from '../support/tcp-proxy';

// A held request must come back well before this: without timeouts it never would (the proxy
// holds until released), so the guard only turns a hang into a failure.
const HANG_GUARD_MS = 20_000;

describe('timeouts on Secrets Manager and Redis', () => {
  describe('Secrets Manager accepts and never answers', () => {
    let proxy: TcpProxy;
    let t: TestApp;
    let plain: TestApp;
    let cached: { id: string; api_key: string };
    let uncached: { id: string; api_key: string };

    beforeAll(async () => {
      const moto = new URL(process.env.AWS_ENDPOINT_URL ?? 'http://127.0.0.1:4566');
      proxy = await TcpProxy.start({ host: moto.hostname, port: Number(moto.port) });
      const tenancy = tenancyConfig();
      t = await createTestApp({
        override: (b) =>
          b
            .overrideProvider(awsConfig.KEY)
            .useValue({
              ...awsConfig(),
              endpoint: proxy.url('http'),
              connectTimeoutMs: 500,
              requestTimeoutMs: 1_000,
            })
            .overrideProvider(tenancyConfig.KEY)
            // Every cached secret is expired at once: each use refreshes it.
            .useValue({
              ...tenancy,
              secretCache: { ...tenancy.secretCache, ttlMs: 1, fetchTimeoutMs: 1_500 },
            }),
      });
      plain = await createTestApp();
      const admin: Identity = await platformAdmin(t);
      cached = await createTenant(t, admin);
      // Made by another instance: this one has never read its secret.
      uncached = await createTenant(plain, await platformAdmin(plain));
    });
    afterAll(async () => {
      proxy.release();
      await t.close();
      await plain.close();
      await proxy.close();
    });

    const stats = (key: string) =>
      request(t.url).get('/api/v1/tenant/stats').set('X-API-Key', key).timeout(HANG_GUARD_MS);

    it('serves the expired secret when its refresh times out, and 503 for a tenant never read', async () => {
      expect((await stats(cached.api_key)).status).toBe(200);
      proxy.hold();
      try {
        const held = await stats(cached.api_key);
        expect(held.status).toBe(200);
        expect(held.body.tenant_id).toBe(cached.id);
        const again = await stats(cached.api_key);
        expect(again.status).toBe(200);

        const never = await stats(uncached.api_key);
        expect(never.status).toBe(503);
        expect(never.body.code).toBe('TENANCY.SECRETS_UNAVAILABLE');
        expect(never.body.message).not.toMatch(/abort|timeout|ECONN/i);
        console.log(
          'held Secrets Manager: cached tenant',
          held.status,
          again.status,
          'uncached',
          never.status,
        );
      } finally {
        proxy.release();
      }
      expect((await stats(uncached.api_key)).status).toBe(200);
    });
  });

  describe('Redis accepts and never answers', () => {
    let proxy: TcpProxy;
    let t: TestApp;
    let tenantId: string;

    beforeAll(async () => {
      const real = new URL(redisConfig().url);
      proxy = await TcpProxy.start({ host: real.hostname, port: Number(real.port || 6379) });
      const url = new URL(real.toString());
      url.hostname = '127.0.0.1';
      url.port = String(proxy.port);
      t = await createTestApp({
        override: (b) =>
          b
            .overrideProvider(redisConfig.KEY)
            .useValue({ ...redisConfig(), url: url.toString(), commandTimeoutMs: 500 })
            // Every request reaches Redis: a session kept in-process would be served while it is held.
            .overrideProvider(authConfig.KEY)
            .useValue({ ...authConfig(), sessionCacheMs: 0 }),
      });
      tenantId = await insertTenant();
      await insertTenant();
    });
    afterAll(async () => {
      proxy.release();
      await t.close();
      await proxy.close();
    });

    it('answers 503 at once instead of hanging, and recovers when Redis answers again', async () => {
      const member = await tenantMember(t, tenantId);
      const me = () =>
        request(t.url)
          .get('/api/v1/auth/me')
          .set('Authorization', member.bearer)
          .timeout(HANG_GUARD_MS);
      expect((await me()).status).toBe(200);
      proxy.hold();
      let held;
      try {
        held = await me();
      } finally {
        proxy.release();
      }
      console.log('held Redis: /auth/me answered', held.status, held.body.code);
      expect(held.status).toBe(503);
      expect(held.body.code).toBe('AUTH.SESSION_STORE_UNAVAILABLE');
      const back = await eventually(
        () => me(),
        (res) => res.status === 200,
        15_000,
      );
      expect(back.status).toBe(200);
    });
  });
});
