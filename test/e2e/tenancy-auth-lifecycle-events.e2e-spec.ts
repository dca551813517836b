import { EventEmitter2 } from '@nestjs/event-emitter';
import request from 'supertest';
import {
  SESSION_CREATED,
  SESSION_REVOKED,
  USER_ADDED,
  USER_REMOVED,
  USER_ROLE_CHANGED,
} from '../../src/modules/auth';
import {
  API_KEY_ISSUED,
  API_KEY_REVOKED,
  TENANT_DELETED,
  TENANT_UPDATED,
} from '../../src/modules/tenancy';
import { createTestApp, type TestApp } from '../support/app';
import {
  createCognitoUser,
  createTenant,
  type Identity,
  login,
  PASSWORD,
  platformAdmin,
  tenantMember,
  uniqueEmail,
} from '../support/identities';
import { eventually } from '../support/services';

interface Seen {
  name: string;
  payload: Record<string, unknown>;
}

describe('tenancy and auth lifecycle events', () => {
  let t: TestApp;
  let admin: Identity;
  const seen: Seen[] = [];

  beforeAll(async () => {
    t = await createTestApp();
    const emitter = t.app.get(EventEmitter2);
    emitter.onAny((name, payload) => {
      const event = String(name);
      if (event.startsWith('tenancy.') || event.startsWith('auth.'))
        seen.push({ name: event, payload: payload as Record<string, unknown> });
    });
    // Listeners that fail, at once and later: the producers must not notice.
    for (const name of [TENANT_UPDATED, SESSION_REVOKED, USER_ADDED, API_KEY_ISSUED]) {
      emitter.on(name, () => {
        throw new Error('a listener that throws');
      });
      emitter.on(name, (() => Promise.reject(new Error('a listener that rejects'))) as () => void);
    }
    admin = await platformAdmin(t);
  });
  afterAll(() => t.close());

  const of = (name: string, tenantId: string) =>
    seen.filter((e) => e.name === name && e.payload.tenantId === tenantId);
  const waitFor = (name: string, tenantId: string, count = 1) =>
    eventually(
      () => Promise.resolve(of(name, tenantId)),
      (list) => list.length >= count,
      10_000,
      50,
    );

  it('emits tenant updated, API key issued and revoked, tenant deleted — only for that tenant', async () => {
    const a = await createTenant(t, admin);
    const b = await createTenant(t, admin);
    expect(await waitFor(API_KEY_ISSUED, a.id)).toHaveLength(1);

    const renamed = `renamed-${a.id.slice(0, 8)}`;
    await request(t.url)
      .put(`/api/v1/tenants/${a.id}`)
      .set('Authorization', admin.bearer)
      .send({ name: renamed, allow_self_signup: true })
      .expect(200);
    const [updated] = await waitFor(TENANT_UPDATED, a.id);
    expect(updated.payload).toMatchObject({ tenantId: a.id, name: renamed });
    expect([...(updated.payload.changes as string[])].sort()).toEqual([
      'allow_self_signup',
      'name',
    ]);

    const key = await request(t.url)
      .post(`/api/v1/tenants/${a.id}/api-keys`)
      .set('Authorization', admin.bearer)
      .expect(201);
    expect((await waitFor(API_KEY_ISSUED, a.id, 2)).map((e) => e.payload.keyId)).toContain(
      key.body.id,
    );
    await request(t.url)
      .delete(`/api/v1/tenants/${a.id}/api-keys/${key.body.id}`)
      .set('Authorization', admin.bearer)
      .expect(204);
    expect((await waitFor(API_KEY_REVOKED, a.id))[0].payload.keyId).toBe(key.body.id);

    await request(t.url)
      .delete(`/api/v1/tenants/${a.id}`)
      .set('Authorization', admin.bearer)
      .expect(204);
    expect(await waitFor(TENANT_DELETED, a.id)).toHaveLength(1);
    // The first key, revoked by the deletion: one event per key.
    expect(await waitFor(API_KEY_REVOKED, a.id, 2)).toHaveLength(2);

    expect(of(TENANT_UPDATED, b.id)).toHaveLength(0);
    expect(of(API_KEY_REVOKED, b.id)).toHaveLength(0);
    expect(of(TENANT_DELETED, b.id)).toHaveLength(0);
    await request(t.url)
      .delete(`/api/v1/tenants/${b.id}`)
      .set('Authorization', admin.bearer)
      .expect(204);
  });

  it('emits user added, role changed, removed and one session event per session opened or ended', async () => {
    const tenant = await createTenant(t, admin);
    const other = await createTenant(t, admin);
    const owner = await tenantMember(t, tenant.id, 'tenant_owner');
    const created = await waitFor(SESSION_CREATED, tenant.id);
    expect(created[0].payload).toMatchObject({
      tenantId: tenant.id,
      userId: owner.userId,
      sessionId: owner.sessionId,
    });
    expect(created[0].payload.expiresAt).toBeInstanceOf(Date);

    // An existing account joins through the owner.
    const email = uniqueEmail('joiner');
    const userId = await createCognitoUser(email);
    await request(t.url)
      .post(`/api/v1/tenants/${tenant.id}/users`)
      .set('Authorization', owner.bearer)
      .send({ email, role: 'user' })
      .expect(201);
    expect((await waitFor(USER_ADDED, tenant.id))[0].payload).toMatchObject({
      userId,
      email,
      role: 'user',
    });

    // Three sessions: ended by DELETE /auth/sessions/:id, logout, and removal.
    const s1 = await login(t, email, PASSWORD, { tenant_id: tenant.id });
    const s2 = await login(t, email, PASSWORD, { tenant_id: tenant.id });
    const s3 = await login(t, email, PASSWORD, { tenant_id: tenant.id });
    expect((await waitFor(SESSION_CREATED, tenant.id, 4)).length).toBe(4);

    await request(t.url)
      .put(`/api/v1/tenants/${tenant.id}/users/${userId}`)
      .set('Authorization', owner.bearer)
      .send({ role: 'tenant_owner' })
      .expect(200);
    expect((await waitFor(USER_ROLE_CHANGED, tenant.id))[0].payload).toMatchObject({
      userId,
      role: 'tenant_owner',
    });

    await request(t.url)
      .delete(`/api/v1/auth/sessions/${s1.sessionId}`)
      .set('Authorization', s2.bearer)
      .expect(204);
    await request(t.url).post('/api/v1/auth/logout').set('Authorization', s2.bearer).expect(204);
    await request(t.url)
      .delete(`/api/v1/tenants/${tenant.id}/users/${userId}`)
      .set('Authorization', owner.bearer)
      .expect(204);
    expect(await waitFor(USER_REMOVED, tenant.id)).toHaveLength(1);
    const revoked = await waitFor(SESSION_REVOKED, tenant.id, 3);
    const bySession = Object.fromEntries(
      revoked.map((e) => [e.payload.sessionId as string, e.payload.reason]),
    );
    console.log('session.revoked reasons', bySession);
    expect(bySession).toEqual({
      [s1.sessionId]: 'revoked',
      [s2.sessionId]: 'logout',
      [s3.sessionId]: 'membership_removed',
    });
    expect(revoked).toHaveLength(3);

    // Global sign-out: one event for each of the user's sessions.
    const again = await login(t, owner.email, PASSWORD, { tenant_id: tenant.id });
    await request(t.url)
      .post('/api/v1/auth/logout?all=true')
      .set('Authorization', again.bearer)
      .expect(204);
    const global = (await waitFor(SESSION_REVOKED, tenant.id, 5)).filter(
      (e) => e.payload.reason === 'global_sign_out',
    );
    expect(global.map((e) => e.payload.sessionId).sort()).toEqual(
      [owner.sessionId, again.sessionId].sort(),
    );

    // Tenant deletion ends the rest, one event each.
    const last = await tenantMember(t, tenant.id);
    await request(t.url)
      .delete(`/api/v1/tenants/${tenant.id}`)
      .set('Authorization', admin.bearer)
      .expect(204);
    const ended = (await waitFor(SESSION_REVOKED, tenant.id, 6)).filter(
      (e) => e.payload.reason === 'tenant_deleted',
    );
    expect(ended.map((e) => e.payload.sessionId)).toEqual([last.sessionId]);

    for (const name of [SESSION_CREATED, SESSION_REVOKED, USER_ADDED, USER_REMOVED])
      expect(of(name, other.id)).toHaveLength(0);
    await request(t.url)
      .delete(`/api/v1/tenants/${other.id}`)
      .set('Authorization', admin.bearer)
      .expect(204);
  });
});
