import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { Injectable } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import request from 'supertest';
import {
  ApiKeysService,
  TENANT_DELETING,
  TENANT_PROVISIONED,
  TenantDatabase,
  TenantDeletingEvent,
  TenantProvisionedEvent,
  TenancyModule,
  TenantsService,
} from '../../src/modules/tenancy';
import { AwsClients } from '../../src/shared/aws';
import { createTestApp, type TestApp } from '../support/app';
import {
  adminSql,
  asAdmin,
  asMember,
  deleteSecret,
  putSecret,
  randomUUID,
  readSecret,
  scratchDatabase,
  secretJson,
  secretsClient,
  tenantSecretName,
  uniqueName,
  withTestBearer,
  PLATFORM_DB,
  TENANT_DB,
} from '../support/tenancy';

/** Records the lifecycle events, and holds `tenant.deleting` until released (a module draining). */
@Injectable()
class LifecycleProbe {
  provisioned: TenantProvisionedEvent[] = [];
  deleting: TenantDeletingEvent[] = [];
  statusSeenWhileDeleting?: string;
  constructor(private readonly tenants: TenantsService) {}

  @OnEvent(TENANT_PROVISIONED)
  onProvisioned(event: TenantProvisionedEvent): void {
    this.provisioned.push(event);
  }

  @OnEvent(TENANT_DELETING)
  async onDeleting(event: TenantDeletingEvent): Promise<void> {
    await new Promise((r) => setTimeout(r, 100));
    this.statusSeenWhileDeleting = (await this.tenants.findById(event.tenantId))?.status;
    this.deleting.push(event);
  }
}

describe('Tenancy lifecycle', () => {
  let t: TestApp;
  let probe: LifecycleProbe;
  const sm = secretsClient();

  beforeAll(async () => {
    t = await createTestApp({
      extra: { imports: [TenancyModule], providers: [LifecycleProbe] },
      override: withTestBearer,
    });
    probe = t.app.get(LifecycleProbe);
  });
  afterAll(async () => {
    await t.close();
    sm.destroy();
  });

  const create = (body: object) =>
    request(t.url).post('/api/v1/tenants').set('Authorization', asAdmin).send(body);

  it('provisions a tenant: secret at the prefix, schema, first API key shown once, tenant.provisioned', async () => {
    const name = uniqueName('acme');
    const res = await create({ name, concurrency_config: 5 });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      name,
      status: 'active',
      concurrency_config: 5,
      allow_self_signup: false,
    });
    expect(res.body.api_key).toMatch(/^tsk_/);
    const id = res.body.id as string;

    const secret = await readSecret(sm, tenantSecretName(id));
    expect(secret).toMatchObject({
      engine: 'postgresql',
      database: TENANT_DB,
      username: 'tessera_app',
    });

    const [key] = await adminSql<{ key_hash: string; key_prefix: string }>(
      'select key_hash, key_prefix from tenant_api_keys where tenant_id = $1',
      [id],
      PLATFORM_DB,
    );
    expect(key.key_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(key.key_hash).not.toContain(res.body.api_key);
    expect((res.body.api_key as string).startsWith(key.key_prefix)).toBe(true);
    expect(await t.app.get(ApiKeysService).resolve(res.body.api_key)).toEqual({
      tenantId: id,
      keyId: res.body.api_key_id,
    });

    expect(probe.provisioned.map((e) => e.tenantId)).toContain(id);
    const audit = await t.app
      .get(TenantDatabase)
      .runFor(id, (m) => m.query('select action from tenant_audit_events'));
    expect(audit).toEqual([{ action: 'tenant.provisioned' }]);

    const info = await request(t.url)
      .get('/api/v1/tenant/info')
      .set('Authorization', asMember(id, 'user'));
    expect(info.status).toBe(200);
    expect(info.body).toMatchObject({
      tenant_id: id,
      name,
      database: { engine: 'postgresql', database: TENANT_DB },
    });
    expect(JSON.stringify(info.body)).not.toMatch(/password|tessera_app|username|"user"/);
    const stats = await request(t.url)
      .get('/api/v1/tenant/stats')
      .set('Authorization', asMember(id, 'user'));
    expect(stats.status).toBe(200);
    expect(stats.body.tables).toMatchObject({ tenant_audit_events: 1 });
  });

  it('answers the same name twice with 409, and bad input with 400', async () => {
    const name = uniqueName('dup');
    expect((await create({ name })).status).toBe(201);
    const again = await create({ name: name.toUpperCase() });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('TENANCY.NAME_TAKEN');

    expect((await create({ name: '' })).status).toBe(400);
    expect((await create({ name: 'x', concurrency_config: 0 })).status).toBe(400);
    expect((await create({ name: 'x', surprise: true })).status).toBe(400);
    const badId = await request(t.url)
      .get('/api/v1/tenants/not-a-uuid')
      .set('Authorization', asAdmin);
    expect(badId.status).toBe(400);
    const badKey = await request(t.url)
      .delete(`/api/v1/tenants/${randomUUID()}/api-keys/nope`)
      .set('Authorization', asAdmin);
    expect(badKey.status).toBe(400);
  });

  it('refuses to adopt a secret that does not exist or is not a tenant database secret (400, nothing created)', async () => {
    const missing = await create({
      name: uniqueName('adopt'),
      database_secret_id: `tessera-test/missing/${randomUUID()}`,
    });
    expect(missing.status).toBe(400);
    expect(missing.body.code).toBe('TENANCY.INVALID_SECRET');

    const bogus = `tessera-test/bogus/${randomUUID()}`;
    await putSecret(sm, bogus, { engine: 'mysql', host: 'h', username: 'u', password: 'p' });
    const name = uniqueName('bogus');
    const invalid = await create({ name, database_secret_id: bogus });
    expect(invalid.status).toBe(400);
    expect(invalid.body.message).toMatch(/engine/);
    expect(invalid.body.message).not.toMatch(/"p"|password: p/);
    const rows = await adminSql('select 1 from tenants where name = $1', [name], PLATFORM_DB);
    expect(rows).toHaveLength(0);
    await deleteSecret(sm, bogus);
  });

  it('leaves a tenant whose provisioning fails midway visibly provisioning_failed, without live keys, and retries it', async () => {
    const db = await scratchDatabase();
    const secretId = `tessera-test/silo/${randomUUID()}`;
    try {
      // No owner credentials: the tenant migrations cannot run on this silo database.
      await putSecret(sm, secretId, secretJson({ database: db.name }));
      const name = uniqueName('halfway');
      const failed = await create({ name, database_secret_id: secretId });
      expect(failed.status).toBe(503);
      expect(failed.body.code).toBe('TENANCY.PROVISIONING_FAILED');
      const id = failed.body.details[0].tenant_id as string;
      const got = await request(t.url).get(`/api/v1/tenants/${id}`).set('Authorization', asAdmin);
      expect(got.body).toMatchObject({
        status: 'provisioning_failed',
        provisioning_error: expect.stringMatching(/^migrations: /),
      });
      const live = await adminSql(
        'select 1 from tenant_api_keys where tenant_id = $1 and revoked_at is null',
        [id],
        PLATFORM_DB,
      );
      expect(live).toHaveLength(0);
      expect(await t.app.get(TenantsService).isActive(id)).toBe(false);

      await putSecret(
        sm,
        secretId,
        secretJson({
          database: db.name,
          owner_username: 'tessera_owner',
          owner_password: 'tessera_owner',
        }),
      );
      const retried = await create({ name, database_secret_id: secretId });
      expect(retried.status).toBe(201);
      expect(retried.body).toMatchObject({ id, status: 'active' });
      expect(retried.body).not.toHaveProperty('provisioning_error');
    } finally {
      await deleteSecret(sm, secretId);
      await db.drop();
    }
  });

  it('runs a silo tenant in its own database beside pooled tenants', async () => {
    const db = await scratchDatabase();
    const secretId = `tessera-test/silo/${randomUUID()}`;
    try {
      await putSecret(
        sm,
        secretId,
        secretJson({
          database: db.name,
          owner_username: 'tessera_owner',
          owner_password: 'tessera_owner',
        }),
      );
      const silo = await create({ name: uniqueName('silo'), database_secret_id: secretId });
      expect(silo.status).toBe(201);
      const pooled = await create({ name: uniqueName('pooled') });
      expect(pooled.status).toBe(201);

      const siloInfo = await request(t.url)
        .get('/api/v1/tenant/info')
        .set('Authorization', asMember(silo.body.id));
      expect(siloInfo.body.database.database).toBe(db.name);
      const pooledInfo = await request(t.url)
        .get('/api/v1/tenant/info')
        .set('Authorization', asMember(pooled.body.id));
      expect(pooledInfo.body.database.database).toBe(TENANT_DB);

      const [row] = await adminSql<{ n: string }>(
        'select count(*) as n from tenant_audit_events where tenant_id = $1',
        [silo.body.id],
        db.name,
      );
      expect(Number(row.n)).toBe(1);
      const [none] = await adminSql<{ n: string }>(
        'select count(*) as n from tenant_audit_events where tenant_id = $1',
        [silo.body.id],
        TENANT_DB,
      );
      expect(Number(none.n)).toBe(0);
    } finally {
      await deleteSecret(sm, secretId);
      await db.drop();
    }
  });

  it('answers an unknown tenant with 404, and ten requests make one Secrets Manager call', async () => {
    const res = await create({ name: uniqueName('ghost') });
    const id = res.body.id as string;
    await deleteSecret(sm, tenantSecretName(id));
    expect(
      (await request(t.url).post('/admin/cache/clear').set('Authorization', asAdmin)).status,
    ).toBe(204);
    const send = jest.spyOn(t.app.get(AwsClients).secretsManager, 'send');
    try {
      const answers = await Promise.all(
        Array.from({ length: 10 }, () =>
          request(t.url).get('/api/v1/tenant/stats').set('Authorization', asMember(id)),
        ),
      );
      expect(answers.map((a) => a.status)).toEqual(Array(10).fill(404));
      for (let i = 0; i < 10; i += 1) {
        expect(
          (await request(t.url).get('/api/v1/tenant/stats').set('Authorization', asMember(id)))
            .status,
        ).toBe(404);
      }
      // Background work (expiry, relays, topology) may read other tenants' secrets meanwhile.
      const readsOf = (secretId: string) =>
        send.mock.calls.filter(
          ([command]) =>
            command instanceof GetSecretValueCommand && command.input.SecretId === secretId,
        );
      expect(readsOf(tenantSecretName(id))).toHaveLength(1);

      // A tenant id that is not in the registry at all costs no AWS call.
      const strangerId = randomUUID();
      const stranger = await request(t.url)
        .get('/api/v1/tenant/stats')
        .set('Authorization', asMember(strangerId));
      expect(stranger.status).toBe(404);
      expect(readsOf(tenantSecretName(id))).toHaveLength(1);
      expect(readsOf(tenantSecretName(strangerId))).toHaveLength(0);
    } finally {
      send.mockRestore();
    }
  });

  it('deletes a tenant: tenant.deleting is awaited before it is marked deleted, then keys and routes stop', async () => {
    const res = await create({ name: uniqueName('gone') });
    const id = res.body.id as string;
    const del = await request(t.url).delete(`/api/v1/tenants/${id}`).set('Authorization', asAdmin);
    expect(del.status).toBe(204);
    expect(probe.deleting.map((e) => e.tenantId)).toContain(id);
    expect(probe.statusSeenWhileDeleting).toBe('deleting');
    expect((await t.app.get(TenantsService).findById(id))?.status).toBe('deleted');
    expect(await t.app.get(ApiKeysService).resolve(res.body.api_key)).toBeNull();
    expect(
      (await request(t.url).get(`/api/v1/tenants/${id}`).set('Authorization', asAdmin)).status,
    ).toBe(404);
    expect(
      (await request(t.url).delete(`/api/v1/tenants/${id}`).set('Authorization', asAdmin)).status,
    ).toBe(404);
    expect(
      (await request(t.url).get('/api/v1/tenant/info').set('Authorization', asMember(id))).status,
    ).toBe(404);
    // The name is free again.
    expect((await create({ name: res.body.name })).status).toBe(201);
  });

  it('issues and revokes API keys; a revoked key stops resolving at once', async () => {
    const res = await create({ name: uniqueName('keys') });
    const id = res.body.id as string;
    const keys = t.app.get(ApiKeysService);
    const issued = await request(t.url)
      .post(`/api/v1/tenants/${id}/api-keys`)
      .set('Authorization', asMember(id));
    expect(issued.status).toBe(201);
    expect(issued.body).toMatchObject({
      id: expect.any(String),
      api_key: expect.stringMatching(/^tsk_/),
    });
    expect(await keys.resolve(issued.body.api_key)).toEqual({
      tenantId: id,
      keyId: issued.body.id,
    });
    const revoked = await request(t.url)
      .delete(`/api/v1/tenants/${id}/api-keys/${issued.body.id}`)
      .set('Authorization', asMember(id));
    expect(revoked.status).toBe(204);
    expect(await keys.resolve(issued.body.api_key)).toBeNull();
    expect(await keys.resolve(res.body.api_key)).not.toBeNull();
    const twice = await request(t.url)
      .delete(`/api/v1/tenants/${id}/api-keys/${issued.body.id}`)
      .set('Authorization', asMember(id));
    expect(twice.status).toBe(404);
    expect(await keys.resolve('tsk_not-a-key')).toBeNull();
  });

  it('lists tenants with a stable cursor and updates name and self sign-up', async () => {
    const a = await create({ name: uniqueName('list') });
    const b = await create({ name: uniqueName('list') });
    const page = await request(t.url).get('/api/v1/tenants?limit=1').set('Authorization', asAdmin);
    expect(page.status).toBe(200);
    expect(page.body.data).toHaveLength(1);
    expect(page.body.data[0].id).toBe(b.body.id);
    const next = await request(t.url)
      .get(`/api/v1/tenants?limit=1&cursor=${page.body.next_cursor}`)
      .set('Authorization', asAdmin);
    expect(next.body.data[0].id).toBe(a.body.id);
    expect(
      (await request(t.url).get('/api/v1/tenants?cursor=zzz').set('Authorization', asAdmin)).status,
    ).toBe(400);

    const put = await request(t.url)
      .put(`/api/v1/tenants/${a.body.id}`)
      .set('Authorization', asMember(a.body.id))
      .send({ allow_self_signup: true });
    expect(put.status).toBe(200);
    expect(put.body.allow_self_signup).toBe(true);
    const clash = await request(t.url)
      .put(`/api/v1/tenants/${a.body.id}`)
      .set('Authorization', asAdmin)
      .send({ name: b.body.name });
    expect(clash.status).toBe(409);
    expect(
      (
        await request(t.url)
          .put(`/api/v1/tenants/${a.body.id}`)
          .set('Authorization', asAdmin)
          .send({})
      ).status,
    ).toBe(400);
  });

  it('reports cache figures on /health/cache and the same on /metrics; clearing makes the next use read again', async () => {
    const res = await create({ name: uniqueName('figures') });
    const id = res.body.id as string;
    for (let i = 0; i < 3; i += 1) {
      await request(t.url).get('/api/v1/tenant/info').set('Authorization', asMember(id));
    }
    const cache = await request(t.url).get('/health/cache').set('Authorization', asAdmin);
    expect(cache.status).toBe(200);
    expect(cache.body.secrets).toMatchObject({
      hits: expect.any(Number),
      misses: expect.any(Number),
      size: expect.any(Number),
      evictions: expect.any(Number),
      negative_entries: expect.any(Number),
      fetch_latency_ms: { p50: expect.any(Number), p99: expect.any(Number) },
    });
    expect(cache.body.secrets.hits).toBeGreaterThanOrEqual(2);
    expect(cache.body.secrets.hit_rate).toBeGreaterThan(0);
    expect(cache.body.pools.size).toBeGreaterThanOrEqual(1);

    const metrics = await request(t.url).get('/metrics');
    for (const name of [
      'tessera_tenant_secret_cache_lookups_total{result="hit",tenant_id=',
      'tessera_tenant_secret_cache_size',
      'tessera_tenant_secret_cache_negative_entries',
      'tessera_tenant_secret_cache_evictions_total',
      'tessera_tenant_secret_fetch_seconds_bucket',
      'tessera_tenant_pools',
      'tessera_tenant_pool_connections{state="in_use"}',
    ]) {
      expect(metrics.text).toContain(name);
    }

    // Other tenants' background work may fetch too: count this tenant's reads, and see the figure move.
    const fetchesBefore = cache.body.secrets.fetches as number;
    const send = jest.spyOn(t.app.get(AwsClients).secretsManager, 'send');
    try {
      expect(
        (await request(t.url).post('/admin/cache/clear').set('Authorization', asAdmin)).status,
      ).toBe(204);
      await request(t.url).get('/api/v1/tenant/info').set('Authorization', asMember(id));
      const reads = send.mock.calls.filter(
        ([command]) =>
          command instanceof GetSecretValueCommand &&
          command.input.SecretId === tenantSecretName(id),
      );
      expect(reads).toHaveLength(1);
    } finally {
      send.mockRestore();
    }
    const after = await request(t.url).get('/health/cache').set('Authorization', asAdmin);
    expect(after.body.secrets.fetches).toBeGreaterThanOrEqual(fetchesBefore + 1);
  });
});
