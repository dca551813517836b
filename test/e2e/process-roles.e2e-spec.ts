import request from 'supertest';
import WebSocket from 'ws';
import type { TestApp } from '../support/app';
import { type AppProcess, appReady, spawnApp, stopApp } from '../support/app-process';
import { SUITE_RETRY_DELAYS_MS } from '../support/env';
import {
  HttpSink,
  isolateLocationTopics,
  locationTenant,
  type LocationTenant,
  setDelivery,
  startSession,
} from '../support/http-sink';
import { type Identity, platformAdmin } from '../support/identities';
import { eventually } from '../support/services';
import { adminSql } from '../support/tenancy';

process.env.MESSAGING_RETRY_DELAYS_MS = SUITE_RETRY_DELAYS_MS;

/** The HTTP status a WebSocket upgrade gets (101 when it is accepted). */
function upgradeStatus(url: string, bearer: string): Promise<number> {
  return new Promise((done, fail) => {
    const socket = new WebSocket(`${url.replace('http', 'ws')}/api/v1/ws`, [], {
      headers: { authorization: bearer },
    });
    socket.once('open', () => {
      socket.close();
      done(101);
    });
    socket.once('unexpected-response', (_req, res) => {
      res.resume();
      done(res.statusCode ?? 0);
    });
    socket.once('error', fail);
  });
}

describe('process roles: an api process and a worker process against the same services', () => {
  let sink: HttpSink;
  let api: AppProcess | undefined;
  let worker: AppProcess | undefined;
  let admin: Identity;
  let tenant: LocationTenant;
  // The identity helpers only use the app's URL.
  const apiApp = () => ({ url: api!.url }) as TestApp;

  beforeAll(async () => {
    sink = await new HttpSink().start();
    isolateLocationTopics('roles');
    process.env.LOCATION_DELIVERY_ALLOWED_HOSTS = `127.0.0.1:${sink.port}`;
    [api, worker] = await Promise.all([
      spawnApp({ TESSERA_ROLE: 'api' }),
      spawnApp({ TESSERA_ROLE: 'worker' }),
    ]);
    await Promise.all([appReady(api), appReady(worker)]);
    admin = await platformAdmin(apiApp());
    tenant = await locationTenant(apiApp(), admin, 1);
  }, 180_000);
  afterAll(async () => {
    delete process.env.LOCATION_DELIVERY_ALLOWED_HOSTS;
    if (tenant && api)
      await request(api.url)
        .delete(`/api/v1/tenants/${tenant.id}`)
        .set('Authorization', admin.bearer)
        .catch(() => undefined);
    await Promise.all([stopApp(api), stopApp(worker)]);
    await sink?.close();
  }, 60_000);

  it('a worker answers its probes and metrics, and 404 on every public route and WebSocket', async () => {
    const w = request(worker!.url);
    expect((await w.get('/health/live')).status).toBe(200);
    const ready = await w.get('/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.details.process).toEqual({ status: 'up', role: 'worker' });
    expect((await w.get('/metrics')).status).toBe(200);
    for (const path of ['/api/v1/tenants', '/docs', '/dashboard', '/api/v1/location/sessions']) {
      const res = await w.get(path).set('Authorization', admin.bearer);
      expect({ path, status: res.status, code: res.body.code }).toEqual({
        path,
        status: 404,
        code: 'COMMON.NOT_FOUND',
      });
      expect(res.headers['x-request-id']).toBeTruthy();
    }
    const post = await w
      .post('/api/v1/location/update')
      .set('Authorization', tenant.users[0].bearer)
      .send({ session_id: '00000000-0000-4000-8000-000000000000', latitude: 1, longitude: 1 });
    expect(post.status).toBe(404);
    // The WebSocket upgrade (with valid credentials) is refused the same way.
    expect(await upgradeStatus(worker!.url, tenant.owner.bearer)).toBe(404);
    // The same route and upgrade on the api are served.
    expect(await upgradeStatus(api!.url, tenant.owner.bearer)).toBe(101);
    expect(
      (await request(api!.url).get('/api/v1/tenants').set('Authorization', admin.bearer)).status,
    ).toBe(200);
  });

  it('an api is ready without consumers, and reports the streamer running elsewhere', async () => {
    const ready = await request(api!.url).get('/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.details.process).toEqual({ status: 'up', role: 'api' });
    const streaming = await eventually(
      () => request(api!.url).get('/api/v1/streaming/health').set('Authorization', admin.bearer),
      (res) => res.status === 200,
      30_000,
      500,
    );
    expect(streaming.status).toBe(200);
    expect(streaming.body.consumer.state).toBe('elsewhere');
  });

  it('location updates accepted by the api are persisted and delivered by the worker', async () => {
    await setDelivery(apiApp(), tenant.owner, sink.url);
    const user = tenant.users[0];
    const session = await startSession(apiApp(), user);
    const accepted: string[] = [];
    for (let i = 0; i < 40; i++) {
      const res = await request(api!.url)
        .post('/api/v1/location/update')
        .set('Authorization', user.bearer)
        .send({ session_id: session, latitude: 52.5 + i / 1000, longitude: 13.4, accuracy: 3 });
      expect(res.status).toBe(202);
      accepted.push(res.body.event_id as string);
    }
    const delivered = await eventually(
      () => Promise.resolve(accepted.filter((id) => sink.accepted.has(id)).length),
      (n) => n === accepted.length,
      60_000,
      250,
    );
    const persisted = await eventually(
      async () =>
        (
          await adminSql<{ n: number }>(
            'select count(*)::int as n from locations where event_id = any($1::uuid[])',
            [accepted],
            process.env.TENANT_DATABASE_NAME,
          )
        )[0].n,
      (n) => n === accepted.length,
      60_000,
      250,
    );
    console.log(
      `api + worker, location: accepted ${accepted.length} by the api, delivered ${delivered} and persisted ${persisted} by the worker`,
    );
    expect(delivered).toBe(accepted.length);
    expect(persisted).toBe(accepted.length);
  }, 150_000);

  it('messages accepted by the api are processed by the worker', async () => {
    const config = await request(api!.url)
      .put(`/api/v1/tenants/${tenant.id}/consumers/roles/config`)
      .set('Authorization', tenant.owner.bearer)
      .send({ workers: 2, webhook_url: sink.url });
    expect(config.status).toBe(200);
    const accepted: string[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await request(api!.url)
        .post('/api/v1/messages')
        .set('Authorization', tenant.owner.bearer)
        .send({ queue_name: 'roles', payload: { i } });
      expect(res.status).toBe(202);
      accepted.push(res.body.id as string);
    }
    const processed = await eventually(
      async () =>
        (
          await adminSql<{ n: number }>(
            `select count(*)::int as n from messages where id = any($1::uuid[]) and status = 'processed'`,
            [accepted],
            process.env.TENANT_DATABASE_NAME,
          )
        )[0].n,
      (n) => n === accepted.length,
      60_000,
      250,
    );
    const called = accepted.filter((id) => sink.accepted.has(id)).length;
    console.log(
      `api + worker, messaging: accepted ${accepted.length} by the api, processed ${processed} by the worker, webhook calls ${called}`,
    );
    expect(processed).toBe(accepted.length);
    expect(called).toBe(accepted.length);
  }, 120_000);
});
