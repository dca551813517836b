import { PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import request from 'supertest';
import type { EntityManager } from 'typeorm';
import { tenancyConfig, type TenancyConfig } from '../../src/config';
import { TenancyModule } from '../../src/modules/tenancy';
import { TenantPoolsService } from '../../src/modules/tenancy/database/tenant-pools.service';
import { TenantSecretsService } from '../../src/modules/tenancy/database/tenant-secrets.service';
import { createTestApp, type TestApp } from '../support/app';
import {
  unitOfWork,
  asAdmin,
  asMember,
  putSecret,
  scratchRole,
  secretJson,
  secretsClient,
  tenantSecretName,
  uniqueName,
  withTestBearer,
} from '../support/tenancy';

describe('Tenancy: pool eviction and rotated credentials', () => {
  let t: TestApp;
  const sm = secretsClient();
  const cleanups: Array<() => Promise<void>> = [];
  const saved = process.env.TENANT_POOL_CACHE_MAX;

  beforeAll(async () => {
    process.env.TENANT_POOL_CACHE_MAX = '2';
    t = await createTestApp({ extra: { imports: [TenancyModule] }, override: withTestBearer });
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env.TENANT_POOL_CACHE_MAX;
    else process.env.TENANT_POOL_CACHE_MAX = saved;
    await t.close();
    for (const cleanup of cleanups.reverse()) await cleanup();
    sm.destroy();
  });

  async function tenantOnOwnRole(pool?: object) {
    const res = await request(t.url)
      .post('/api/v1/tenants')
      .set('Authorization', asAdmin)
      .send({ name: uniqueName('pool') });
    expect(res.status).toBe(201);
    const id = res.body.id as string;
    const role = await scratchRole();
    cleanups.push(role.drop);
    await putSecret(
      sm,
      tenantSecretName(id),
      secretJson({ username: role.username, password: role.password, pool }),
    );
    t.app.get(TenantSecretsService).invalidate(id);
    return { id, role };
  }

  const asTenant = <T>(tenantId: string, work: (m: EntityManager) => Promise<T>) =>
    unitOfWork(t, tenantId, work);

  it('keeps every query of three busy tenants alive while a bound of two pools evicts', async () => {
    expect(t.app.get<TenancyConfig>(tenancyConfig.KEY).poolCache.max).toBe(2);
    const tenants = [await tenantOnOwnRole(), await tenantOnOwnRole(), await tenantOnOwnRole()];
    const pools = t.app.get(TenantPoolsService);
    const before = pools.stats();
    const failures: unknown[] = [];
    let done = 0;
    const worker = async (id: string, round: number) => {
      for (let i = 0; i < 15; i += 1) {
        try {
          const [row] = await asTenant(id, async (m) => {
            await m.query('select pg_sleep(0.02 + random() * 0.03)');
            return m.query<Array<{ tenant: string }>>(
              `select current_setting('app.tenant_id') as tenant`,
            );
          });
          if (row.tenant !== id) failures.push(`wrong tenant ${row.tenant}`);
          done += 1;
        } catch (error) {
          failures.push(error);
        }
        if ((i + round) % 3 === 0) await new Promise((r) => setTimeout(r, 5));
      }
    };
    await Promise.all(
      tenants.flatMap(({ id }, n) => [worker(id, n), worker(id, n + 1), worker(id, n + 2)]),
    );

    expect(failures).toEqual([]);
    expect(done).toBe(3 * 3 * 15);
    const after = pools.stats();
    expect(after.size).toBeLessThanOrEqual(2);
    expect(after.evictions - before.evictions).toBeGreaterThan(0);
    // Evicted pools were closed once their last query returned; none is left open beyond the bound.
    await new Promise((r) => setTimeout(r, 200));
    expect(after.created - pools.stats().closed).toBeLessThanOrEqual(
      2 + (before.created - before.closed),
    );
  });

  it('survives rotation under load: PutSecretValue then ALTER ROLE, every request succeeds with at most one retry', async () => {
    const { id, role } = await tenantOnOwnRole({ max: 4, idle_timeout_ms: 1_000 });
    const secrets = t.app.get(TenantSecretsService);
    const refresh = jest.spyOn(secrets, 'refresh');
    const failures: unknown[] = [];
    let ok = 0;
    let running = true;
    let paused = false;
    const worker = async () => {
      while (running) {
        if (paused) {
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        const res = await request(t.url)
          .get('/api/v1/tenant/stats')
          .set('Authorization', asMember(id, 'user'));
        if (res.status === 200) ok += 1;
        else failures.push(res.body);
        // Bursts with pauses longer than the pool's idle timeout: connections close and reopen.
        await new Promise((r) => setTimeout(r, Math.random() < 0.3 ? 1_200 : 20));
      }
    };
    const load = Promise.all(Array.from({ length: 6 }, worker));
    try {
      await new Promise((r) => setTimeout(r, 1_000));
      const next = 'rotated-' + role.password;
      await sm.send(
        new PutSecretValueCommand({
          SecretId: tenantSecretName(id),
          SecretString: JSON.stringify(
            secretJson({
              username: role.username,
              password: next,
              pool: { max: 4, idle_timeout_ms: 1_000 },
            }),
          ),
        }),
      );
      await role.rotate(next);
      // A quiet spell longer than the pool's idle timeout: every open connection closes, so the
      // next request must log in anew, with the cached (now wrong) password.
      paused = true;
      await new Promise((r) => setTimeout(r, 1_800));
      paused = false;
      await new Promise((r) => setTimeout(r, 2_500));
    } finally {
      running = false;
      await load;
    }
    const refreshes = refresh.mock.calls.length;
    refresh.mockRestore();
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(20);
    // The rotation was noticed through a refused login and a re-read of the secret (not a restart).
    expect(refreshes).toBeGreaterThan(0);
    const fresh = await secrets.resolve(id);
    expect(fresh.password).toBe('rotated-' + role.password);
  });
});
