import { randomUUID } from 'node:crypto';
import request from 'supertest';
import WebSocket from 'ws';
import { ApiKeysService, TenancyModule, TenantsService } from '../../src/modules/tenancy';
import { createTestApp, type TestApp } from '../support/app';
import {
  createTenant,
  type Identity,
  platformAdmin,
  platformSql,
  tenantMember,
  uniqueEmail,
} from '../support/identities';
import { eventually } from '../support/services';
import { adminSql, TENANT_DB, uniqueName } from '../support/tenancy';

type AuditRow = {
  id: string;
  tenant_id: string;
  action: string;
  actor: string | null;
  details: Record<string, unknown>;
  created_at: string;
};
type Frame = { type: string; data: Record<string, unknown> };

/** A feed socket that records its frames once `hello` came. */
async function openFeed(
  url: string,
  bearer: string,
): Promise<{ frames: Frame[]; close(): Promise<void> }> {
  const socket = new WebSocket(url.replace('http', 'ws') + '/api/v1/ws', {
    headers: { Authorization: bearer },
  });
  const frames: Frame[] = [];
  await new Promise<void>((resolve, reject) => {
    socket.on('message', (raw: Buffer) => {
      const frame = JSON.parse(raw.toString()) as Frame;
      if (frame.type === 'hello') resolve();
      else frames.push(frame);
    });
    socket.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    socket.once('error', reject);
  });
  const close = () =>
    new Promise<void>((resolve) => {
      if (socket.readyState === WebSocket.CLOSED) return resolve();
      socket.once('close', () => resolve());
      socket.close();
    });
  return { frames, close };
}

/** Every tenancy route, with real Cognito identities: a tenant's owner never reaches another tenant. */
describe('Tenancy routes: who may call what', () => {
  let t: TestApp;
  let admin: Identity;
  let ownerA: Identity;
  let userA: Identity;
  let ownerB: Identity;
  let a: { id: string; api_key: string; [key: string]: unknown };
  let b: { id: string; api_key: string; [key: string]: unknown };

  const allowedHosts = process.env.LOCATION_DELIVERY_ALLOWED_HOSTS;

  beforeAll(async () => {
    // A delivery target the audit test may set (nothing is delivered: no session runs).
    process.env.LOCATION_DELIVERY_ALLOWED_HOSTS = '127.0.0.1:9';
    t = await createTestApp({ extra: { imports: [TenancyModule] } });
    admin = await platformAdmin(t);
    a = await createTenant(t, admin, { name: uniqueName('access-a') });
    b = await createTenant(t, admin, { name: uniqueName('access-b') });
    ownerA = await tenantMember(t, a.id, 'tenant_owner');
    userA = await tenantMember(t, a.id, 'user');
    ownerB = await tenantMember(t, b.id, 'tenant_owner');
  });
  afterAll(async () => {
    await t.close();
    if (allowedHosts === undefined) delete process.env.LOCATION_DELIVERY_ALLOWED_HOSTS;
    else process.env.LOCATION_DELIVERY_ALLOWED_HOSTS = allowedHosts;
  });

  const call = (
    method: 'get' | 'post' | 'put' | 'delete',
    path: string,
    who: Identity,
    body?: object,
  ) => {
    const req = request(t.url)[method](path).set('Authorization', who.bearer);
    return body ? req.send(body) : req;
  };

  it("refuses every route of tenant B to tenant A's owner (404 or 403), reads and writes alike", async () => {
    const keyOfB = await call('post', `/api/v1/tenants/${b.id}/api-keys`, ownerB);
    expect(keyOfB.status).toBe(201);
    const attempts: Array<[string, Promise<request.Response>]> = [
      ['GET tenant', call('get', `/api/v1/tenants/${b.id}`, ownerA)],
      [
        'PUT tenant',
        call('put', `/api/v1/tenants/${b.id}`, ownerA, { name: uniqueName('hijack') }),
      ],
      ['DELETE tenant', call('delete', `/api/v1/tenants/${b.id}`, ownerA)],
      ['POST api-key', call('post', `/api/v1/tenants/${b.id}/api-keys`, ownerA)],
      [
        'DELETE api-key',
        call('delete', `/api/v1/tenants/${b.id}/api-keys/${keyOfB.body.id}`, ownerA),
      ],
      ['POST tenants', call('post', '/api/v1/tenants', ownerA, { name: uniqueName('sneaky') })],
      ['GET tenants', call('get', '/api/v1/tenants', ownerA)],
      ['health tenants', call('get', '/health/tenants', ownerA)],
      ['health tenant', call('get', `/health/tenant/${b.id}`, ownerA)],
      ['health cache', call('get', '/health/cache', ownerA)],
      ['cache clear', call('post', '/admin/cache/clear', ownerA)],
      ['info as B', call('get', '/api/v1/tenant/info', ownerA).set('X-Tenant-ID', b.id)],
      ['stats as B', call('get', '/api/v1/tenant/stats', ownerA).set('X-Tenant-ID', b.id)],
    ];
    for (const [label, pending] of attempts) {
      const res = await pending;
      expect({ label, refused: [403, 404].includes(res.status) }).toEqual({ label, refused: true });
      expect(JSON.stringify(res.body)).not.toContain(b.name as string);
    }

    // Nothing of B changed.
    const tenantB = await t.app.get(TenantsService).findById(b.id);
    expect(tenantB).toMatchObject({ name: b.name, status: 'active' });
    const keys = t.app.get(ApiKeysService);
    expect(await keys.resolve(b.api_key)).toMatchObject({ tenantId: b.id });
    expect(await keys.resolve(keyOfB.body.api_key as string)).toMatchObject({ tenantId: b.id });
  });

  it("lets A's owner and members work on A only, each within their role", async () => {
    expect((await call('get', `/api/v1/tenants/${a.id}`, userA)).status).toBe(200);
    expect(
      (await call('put', `/api/v1/tenants/${a.id}`, userA, { allow_self_signup: true })).status,
    ).toBe(403);
    expect((await call('post', `/api/v1/tenants/${a.id}/api-keys`, userA)).status).toBe(403);
    const info = await call('get', '/api/v1/tenant/info', userA);
    expect(info.status).toBe(200);
    expect(info.body.tenant_id).toBe(a.id);
    const stats = await call('get', '/api/v1/tenant/stats', userA);
    expect(stats.status).toBe(200);
    expect(stats.body.tenant_id).toBe(a.id);

    const put = await call('put', `/api/v1/tenants/${a.id}`, ownerA, { allow_self_signup: true });
    expect(put.status).toBe(200);
    const key = await call('post', `/api/v1/tenants/${a.id}/api-keys`, ownerA);
    expect(key.status).toBe(201);
    expect(
      (await call('delete', `/api/v1/tenants/${a.id}/api-keys/${key.body.id}`, ownerA)).status,
    ).toBe(204);
    expect((await call('delete', `/api/v1/tenants/${a.id}`, ownerA)).status).toBe(403);
  });

  it('gives the platform admin every route, with health that never shows credentials', async () => {
    expect((await call('get', `/api/v1/tenants/${b.id}`, admin)).status).toBe(200);
    const list = await call('get', '/api/v1/tenants?limit=100', admin);
    expect(list.status).toBe(200);
    const health = await call('get', `/health/tenant/${a.id}`, admin);
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({
      tenant_id: a.id,
      healthy: true,
      pool: { database: expect.any(String) },
    });
    const all = await call('get', '/health/tenants', admin);
    expect(all.status).toBe(200);
    expect(all.body.summary.total).toBeGreaterThanOrEqual(2);
    expect(JSON.stringify(all.body)).not.toMatch(/password/i);
    const info = await call('get', '/api/v1/tenant/info', admin).set('X-Tenant-ID', b.id);
    expect(info.status).toBe(200);
    expect(info.body.tenant_id).toBe(b.id);
    expect((await call('get', '/health/tenant/not-a-uuid', admin)).status).toBe(400);
  });
  /** Every row of the tenant's trail the caller may read, page by page. */
  async function auditOf(who: Identity, query: Record<string, string> = {}, tenant?: string) {
    const rows: AuditRow[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 50; pages++) {
      const req = call('get', '/api/v1/tenant/audit', who).query({
        limit: 7,
        ...query,
        ...(cursor ? { cursor } : {}),
      });
      const res = await (tenant ? req.set('X-Tenant-ID', tenant) : req);
      if (res.status !== 200)
        throw new Error(`audit answered ${res.status}: ${JSON.stringify(res.body)}`);
      rows.push(...(res.body.data as AuditRow[]));
      cursor = res.body.next_cursor as string | undefined;
      if (!cursor) return rows;
    }
    throw new Error('still paging after 50 pages');
  }

  it("records who did what in the tenant's audit trail, for its owners (and platform admins) only", async () => {
    const started = new Date().toISOString();
    const ownerFeed = await openFeed(t.url, ownerA.bearer);
    const userFeed = await openFeed(t.url, userA.bearer);
    const owner = await tenantMember(t, a.id, 'tenant_owner'); // auth.login
    const as = (method: 'get' | 'post' | 'put' | 'delete', path: string, body?: object) =>
      call(method, path, owner, body);
    const expectStatus = async (pending: Promise<request.Response>, status: number) => {
      const res = await pending;
      expect({ status: res.status, body: res.body as unknown }).toMatchObject({ status });
      return res;
    };

    await expectStatus(as('put', `/api/v1/tenants/${a.id}`, { allow_self_signup: false }), 200);
    const key = await expectStatus(as('post', `/api/v1/tenants/${a.id}/api-keys`), 201);
    await expectStatus(as('delete', `/api/v1/tenants/${a.id}/api-keys/${key.body.id}`), 204);
    const email = uniqueEmail('audited');
    const added = await expectStatus(
      as('post', '/api/v1/tenant/users', { email, temporary_password: 'Temp0rary!pass' }),
      201,
    );
    const member = added.body.user_id as string;
    await expectStatus(as('put', `/api/v1/tenant/users/${member}`, { role: 'tenant_owner' }), 200);
    await expectStatus(as('delete', `/api/v1/tenant/users/${member}`), 204);
    const target = 'http://127.0.0.1:9/hook/path-secret?token=query-secret';
    const delivery = await expectStatus(
      as('put', '/api/v1/location/delivery', { endpoint_url: target, rotate_signing_secret: true }),
      200,
    );
    const signingSecret = delivery.body.signing_secret as string;
    expect(signingSecret).toEqual(expect.any(String));
    await expectStatus(
      as('put', `/api/v1/tenants/${a.id}/config/concurrency`, { workers: 2 }),
      200,
    );
    await expectStatus(
      as('put', `/api/v1/tenants/${a.id}/consumers/default/config`, { workers: 1 }),
      200,
    );
    const messageId = randomUUID();
    await adminSql(
      `insert into messages (id, tenant_id, queue_name, payload, status, attempts, last_error)
       values ($1, $2, 'default', '{"card":"payload-secret"}', 'failed', 3, 'boom')`,
      [messageId, a.id],
      TENANT_DB,
    );
    await expectStatus(as('post', `/api/v1/messages/${messageId}/retry`), 202);
    const [ledger] = await platformSql<{ id: string }>(
      `insert into failed_location_updates
         (tenant_id, event_id, session_id, user_id, latitude, longitude, recorded_at, payload, status,
          next_retry_at)
       values ($1, gen_random_uuid(), gen_random_uuid(), 'audited', 1, 2, now(), '{}', 'pending',
               now() + interval '1 day')
       returning id`,
      [a.id],
    );
    await expectStatus(as('post', `/api/v1/retry/failed/${ledger.id}/retry`), 202);

    const rows = await auditOf(ownerA, { from: started });
    const mine = rows.filter((row) => row.actor === owner.userId);
    const actions = mine.map((row) => row.action).sort();
    console.log(
      `audit: ${rows.length} rows since the test began, ${mine.length} by the acting owner: ${actions.join(', ')}`,
    );
    expect(actions).toEqual(
      [
        'api_key.created',
        'api_key.revoked',
        'auth.login',
        'delivery.target_changed',
        'location_update.retried',
        'message.retried',
        'queue.configured',
        'queue.scaled',
        'tenant.updated',
        'user.added',
        'user.removed',
        'user.role_changed',
      ].sort(),
    );
    const by = (action: string) => mine.find((row) => row.action === action)!;
    expect(by('api_key.created').details).toEqual({
      api_key_id: key.body.id,
      key_prefix: key.body.key_prefix,
    });
    expect(by('user.role_changed').details).toEqual({ user_id: member, role: 'tenant_owner' });
    expect(by('delivery.target_changed').details).toEqual({
      endpoint: 'http://127.0.0.1:9',
      enabled: true,
      signing_secret_rotated: true,
      batch_max_items: null,
    });
    expect(by('message.retried').details).toEqual({ message_id: messageId, queue_name: 'default' });
    expect(by('location_update.retried').details).toMatchObject({ ledger_id: ledger.id });
    // Newest first, and never a secret, a key, a token or a payload.
    const times = rows.map((row) => Date.parse(row.created_at));
    expect([...times].sort((x, y) => y - x)).toEqual(times);
    const text = JSON.stringify(rows);
    for (const secret of [
      signingSecret,
      key.body.api_key,
      'path-secret',
      'query-secret',
      'payload-secret',
      owner.token,
    ])
      expect(text).not.toContain(secret);

    // Filters combine: one action, one actor, a time range.
    const logins = await auditOf(ownerA, { action: 'auth.login', actor: owner.userId });
    expect(logins.map((row) => row.id)).toEqual([by('auth.login').id]);
    const before = await auditOf(ownerA, { to: started, actor: owner.userId });
    expect(before).toEqual([]);
    // A platform admin reads it with X-Tenant-ID.
    const asAdmin = await auditOf(admin, { actor: owner.userId }, a.id);
    expect(asAdmin.map((row) => row.id)).toEqual(mine.map((row) => row.id));

    // Live: the owners' sockets get each entry, a plain member's socket none.
    const fed = await eventually(
      () => Promise.resolve(ownerFeed.frames.filter((f) => f.data.event_type === 'audit.recorded')),
      (frames) => frames.length >= mine.length,
      10_000,
      50,
    );
    const fedActions = fed.map((f) => (f.data.metadata as { action: string }).action);
    for (const action of actions) expect(fedActions).toContain(action);
    expect(fed[0].data).toMatchObject({ source: 'audit', tenant_id: a.id, seq: null });
    expect(fed[0].data).not.toHaveProperty('audience');
    // A marker published after the last entry: once the member has it, it had its chance at all.
    const marker = await request(t.url)
      .post('/api/v1/events')
      .set('X-API-Key', a.api_key)
      .send({ event_type: 'audit.marker' });
    expect(marker.status).toBe(201);
    const seen = await eventually(
      () => Promise.resolve(userFeed.frames.map((f) => f.data.event_type)),
      (types) => types.includes('audit.marker'),
      10_000,
      50,
    );
    expect(seen).toContain('audit.marker');
    expect(seen).not.toContain('audit.recorded');
    console.log(
      `audit feed: owner socket ${fed.length} entries, member socket ${seen.length} events, none of them audit`,
    );
    await Promise.all([ownerFeed.close(), userFeed.close()]);
  });

  it("refuses the audit trail to plain members and to another tenant's owner", async () => {
    const asUser = await call('get', '/api/v1/tenant/audit', userA);
    expect(asUser.status).toBe(403);
    const key = await call('post', `/api/v1/tenants/${a.id}/api-keys`, ownerA);
    expect(key.status).toBe(201);
    const byKey = await request(t.url).get('/api/v1/tenant/audit').set('X-API-Key', a.api_key);
    expect(byKey.status).toBe(403);
    // B's owner reads B's trail only, and cannot choose A.
    const ofB = await auditOf(ownerB);
    expect(ofB.length).toBeGreaterThan(0);
    expect(ofB.every((row) => row.tenant_id === b.id)).toBe(true);
    expect(JSON.stringify(ofB)).not.toContain(key.body.id as string);
    const asA = await call('get', '/api/v1/tenant/audit', ownerB).set('X-Tenant-ID', a.id);
    expect([403, 404]).toContain(asA.status);
    // A cursor of A's trail pages B's rows only.
    const first = await call('get', '/api/v1/tenant/audit', ownerA).query({ limit: 1 });
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const crossed = await call('get', '/api/v1/tenant/audit', ownerB).query({
      cursor: first.body.next_cursor as string,
    });
    expect(crossed.status).toBe(200);
    expect((crossed.body.data as AuditRow[]).every((row) => row.tenant_id === b.id)).toBe(true);
  });

  it('answers bad audit filters and forged cursors with a 400 naming the field', async () => {
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const cases: Array<[Record<string, string>, string, string]> = [
      [{ from: '2026-02-30T00:00:00Z' }, 'COMMON.VALIDATION', 'from'],
      [{ to: 'yesterday' }, 'COMMON.VALIDATION', 'to'],
      [{ from: '10000-01-01T00:00:00Z' }, 'COMMON.VALIDATION', 'from'],
      [{ from: '2026-01-02T00:00:00Z', to: '2026-01-01T00:00:00Z' }, 'COMMON.VALIDATION', 'from'],
      [{ action: 'drop.tables' }, 'COMMON.VALIDATION', 'action'],
      [{ actor: '' }, 'COMMON.VALIDATION', 'actor'],
      [{ limit: '0' }, 'COMMON.VALIDATION', 'limit'],
      [{ tenant_id: b.id }, 'COMMON.VALIDATION', ''],
      [{ cursor: 'not-a-cursor' }, 'COMMON.INVALID_CURSOR', 'cursor'],
      [{ cursor: b64(['0000-01-01T00:00:00Z', randomUUID()]) }, 'COMMON.INVALID_CURSOR', 'cursor'],
      [{ cursor: b64(['2026-01-01T00:00:00Z', '1']) }, 'COMMON.INVALID_CURSOR', 'cursor'],
    ];
    for (const [query, code, field] of cases) {
      const res = await call('get', '/api/v1/tenant/audit', ownerA).query(query);
      expect({ query, status: res.status, code: res.body.code }).toEqual({
        query,
        status: 400,
        code,
      });
      expect(JSON.stringify(res.body.details ?? res.body.message)).toContain(field);
    }
  });
});
