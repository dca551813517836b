import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import request from 'supertest';
import { TenancyModule } from '../../src/modules/tenancy';
import { TenantSecretsService } from '../../src/modules/tenancy/database/tenant-secrets.service';
import { createTestApp, type TestApp } from '../support/app';
import { asAdmin, asMember, uniqueName, withTestBearer } from '../support/tenancy';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

async function waitFor(url: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await fetch(url);
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`${url} did not answer`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/**
 * A Secrets Manager of this test's own (a second moto on a free port): the shared emulator
 * serves everyone else and must stay up, so this one is started and stopped here.
 */
describe('Tenancy: Secrets Manager stops', () => {
  let t: TestApp;
  let moto: ChildProcess | undefined;
  const saved: Record<string, string | undefined> = {};
  const env = (name: string, value: string) => {
    saved[name] = process.env[name];
    process.env[name] = value;
  };

  beforeAll(async () => {
    const port = await freePort();
    moto = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
    await waitFor(`http://127.0.0.1:${port}/`);
    env('AWS_ENDPOINT_URL', `http://127.0.0.1:${port}`);
    // Short TTLs so that the outage outlives the cached entries: stale-on-error is what serves them.
    env('TENANT_SECRET_CACHE_TTL_MS', '500');
    env('TENANT_SECRET_STALE_RETRY_MS', '500');
    t = await createTestApp({ extra: { imports: [TenancyModule] }, override: withTestBearer });
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    moto?.kill('SIGTERM');
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it('keeps cached tenants working with a warning, answers 503 for an uncached one only, and readiness reports it', async () => {
    const create = async () => {
      const res = await request(t.url)
        .post('/api/v1/tenants')
        .set('Authorization', asAdmin)
        .send({ name: uniqueName('sm') });
      expect(res.status).toBe(201);
      return res.body.id as string;
    };
    const [cached, uncached] = [await create(), await create()];
    expect(
      (await request(t.url).get('/api/v1/tenant/stats').set('Authorization', asMember(cached)))
        .status,
    ).toBe(200);
    t.app.get(TenantSecretsService).invalidate(uncached);
    const ready = await request(t.url).get('/health/ready');
    expect(
      ready.body.info?.secrets_manager?.status ?? ready.body.details?.secrets_manager?.status,
    ).toBe('up');

    moto!.kill('SIGTERM');
    await new Promise((r) => moto!.once('exit', r));
    await new Promise((r) => setTimeout(r, 700)); // past the TTL: every read now tries Secrets Manager

    for (let i = 0; i < 5; i += 1) {
      const res = await request(t.url)
        .get('/api/v1/tenant/stats')
        .set('Authorization', asMember(cached));
      expect(res.status).toBe(200);
      expect(res.body.tenant_id).toBe(cached);
      await new Promise((r) => setTimeout(r, 200));
    }
    const refused = await request(t.url)
      .get('/api/v1/tenant/stats')
      .set('Authorization', asMember(uncached));
    expect(refused.status).toBe(503);
    expect(refused.body.code).toBe('TENANCY.SECRETS_UNAVAILABLE');
    expect(refused.body.message).toContain(uncached);

    const down = await request(t.url).get('/health/ready');
    expect(down.status).toBe(503);
    expect(down.body.error.secrets_manager.status).toBe('down');

    const cache = await request(t.url).get('/health/cache').set('Authorization', asAdmin);
    expect(cache.body.secrets.stale_entries).toBeGreaterThanOrEqual(1);
    expect(cache.body.secrets.fetch_errors).toBeGreaterThanOrEqual(1);
    const health = await request(t.url)
      .get(`/health/tenant/${cached}`)
      .set('Authorization', asAdmin);
    expect(health.body).toMatchObject({ healthy: true, secret_stale: true });
  });
});
