import { readFileSync } from 'node:fs';
import Redis from 'ioredis';
import request from 'supertest';
import WebSocket from 'ws';
import { rabbitConnectionName } from '../../src/shared/rabbitmq';
import { createTestApp, type TestApp } from '../support/app';
import {
  HttpSink,
  isolateLocationTopics,
  locationTenant,
  setDelivery,
  startSession,
} from '../support/http-sink';
import { createTenant, type Identity, platformAdmin } from '../support/identities';
import { eventually } from '../support/services';
import { allTlsEnv, CA_FILE, OTHER_CA_FILE } from '../support/tls';
import {
  adminSql,
  PLATFORM_DB,
  putSecret,
  readSecret,
  secretJson,
  secretsClient,
  scratchDatabase,
  tenantSecretName,
} from '../support/tenancy';

/** A CA that signed nothing these services use (scripts/services.sh makes it beside the local CA). */
const OTHER_CA = () => readFileSync(OTHER_CA_FILE, 'utf8');

/**
 * The app's connections over verified TLS, against the local services' TLS listeners (their
 * certificate is signed by the local CA): the platform database by DATABASE_SSL_MODE, each
 * tenant's by its own secret (`sslmode`, `sslrootcert`), written from TENANT_DATABASE_SSL_*;
 * Redis by a rediss:// URL with an ACL user and REDIS_TLS_CA; RabbitMQ by an amqps:// URL with
 * RABBITMQ_TLS_CA and the credentials in their own variables; Kafka on its SASL_SSL listener with
 * a SCRAM-SHA-512 user.
 */
describe('Every connection on TLS with credentials: PostgreSQL, Redis, RabbitMQ, Kafka', () => {
  let t: TestApp;
  let admin: Identity;
  let vhost = '/';
  let sink: HttpSink;
  const saved = { ...process.env };
  let bootedAt: Date;
  /** This suite's default tenant cluster: a database of its own, so what it counts is its own. */
  let silo: { name: string; drop(): Promise<void> };
  /** Tenants this suite made: deleted after it, so no later suite of this worker meets their
   * `localhost` secrets (a database of its own to the tenant migrations runner). */
  const made: string[] = [];
  const newTenant = async () => {
    const tenant = await createTenant(t, admin);
    made.push(tenant.id);
    return tenant;
  };

  beforeAll(async () => {
    sink = await new HttpSink().start();
    const tls = allTlsEnv();
    vhost = decodeURIComponent(new URL(tls.RABBITMQ_URL).pathname.slice(1)) || '/';
    silo = await scratchDatabase();
    Object.assign(process.env, tls, {
      TENANT_DATABASE_NAME: silo.name,
      LOCATION_DELIVERY_ALLOWED_HOSTS: `127.0.0.1:${sink.port}`,
    });
    isolateLocationTopics('tls');
    // The database's clock when this app starts: a connection an earlier suite of this worker
    // left closing (a pool, a child process) began before it and is not this app's.
    [{ since: bootedAt }] = await adminSql<{ since: Date }>('select now() as since');
    t = await createTestApp();
    admin = await platformAdmin(t);
  });
  afterAll(async () => {
    process.env = { ...saved };
    for (const id of made) {
      const res = await request(t.url)
        .delete(`/api/v1/tenants/${id}`)
        .set('Authorization', admin.bearer);
      expect(res.status).toBe(204);
    }
    await t?.close();
    await sink?.close();
    await silo?.drop();
  });

  /** This app's connections to the platform database and this suite's tenant cluster. */
  const appConnections = () =>
    adminSql<{ application_name: string; datname: string; ssl: boolean }>(
      `select a.application_name, a.datname, s.ssl
         from pg_stat_activity a join pg_stat_ssl s on s.pid = a.pid
        where a.application_name in ('tessera', 'tessera-tenant')
          and a.datname = any($1::text[]) and a.backend_start >= $2`,
      [[PLATFORM_DB, silo.name], bootedAt],
    );

  it('provisions a tenant and serves it with every connection encrypted', async () => {
    const tenant = await newTenant();
    const secret = await readSecret(secretsClient(), tenantSecretName(tenant.id));
    expect(secret).toMatchObject({ sslmode: 'verify-full', host: 'localhost' });
    expect(String(secret.sslrootcert)).toContain('-----BEGIN CERTIFICATE-----');

    const posted = await request(t.url)
      .post('/api/v1/events')
      .set('X-API-Key', tenant.api_key)
      .send({ event_type: 'tls.checked', source: 'e2e' });
    expect(posted.status).toBe(201);
    const stats = await request(t.url).get('/api/v1/tenant/stats').set('X-API-Key', tenant.api_key);
    expect(stats.status).toBe(200);

    // The platform database and this suite's tenant cluster: tenants an earlier suite of this
    // worker made (their plain secrets name the worker's tenant database) are not counted.
    const connections = await appConnections();
    const names = new Set(connections.map((c) => c.application_name));
    console.log(
      `TLS connections: ${connections.filter((c) => c.ssl).length} of ${connections.length} encrypted (${[...names].join(', ')})`,
    );
    expect(names).toEqual(new Set(['tessera', 'tessera-tenant']));
    expect(connections.filter((c) => !c.ssl)).toEqual([]);
  });

  it('keeps sessions and pushes the feed through Redis over TLS as its ACL user', async () => {
    const tenant = await newTenant();
    const socket = new WebSocket(`${t.url.replace('http', 'ws')}/api/v1/ws`, {
      headers: { 'x-api-key': tenant.api_key },
    });
    const frames: Array<{ type: string; data: { event_type?: string } }> = [];
    socket.on('message', (raw: Buffer) => frames.push(JSON.parse(raw.toString())));
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    await eventually(
      () => Promise.resolve(frames.some((f) => f.type === 'hello')),
      (hello) => hello,
    );
    const posted = await request(t.url)
      .post('/api/v1/events')
      .set('X-API-Key', tenant.api_key)
      .send({ event_type: 'tls.pushed', source: 'e2e' });
    expect(posted.status).toBe(201);
    const pushed = await eventually(
      () => Promise.resolve(frames.filter((f) => f.data?.event_type === 'tls.pushed').length),
      (n) => n === 1,
    );
    socket.close();

    // Every connection of the app's ACL user came in on the TLS port.
    const probe = new Redis(allTlsEnv().REDIS_URL, { tls: { ca: readFileSync(CA_FILE, 'utf8') } });
    const clients = String(await probe.client('LIST'))
      .trim()
      .split('\n')
      .map(
        (line) =>
          Object.fromEntries(line.split(' ').map((pair) => pair.split('='))) as Record<
            string,
            string
          >,
      )
      .filter((c) => c.user === 'tessera' && String(c.name).startsWith('tessera-'));
    await probe.quit();
    console.log(
      `Redis over TLS: pushed ${pushed}, app connections ${clients.length} (${clients.map((c) => c.name).join(', ')}) on ${[...new Set(clients.map((c) => c.laddr.split(':')[1]))].join(', ')}`,
    );
    expect(clients.length).toBeGreaterThanOrEqual(2);
    expect(clients.every((c) => c.laddr.endsWith(':6380'))).toBe(true);
  });

  it('publishes and processes a message over AMQPS', async () => {
    const tenant = await newTenant();
    const published = await request(t.url)
      .post('/api/v1/messages')
      .set('X-API-Key', tenant.api_key)
      .send({ payload: { over: 'tls' } });
    expect(published.status).toBe(202);
    const id = published.body.id as string;
    const done = await eventually(
      async () =>
        (await request(t.url).get(`/api/v1/messages/${id}`).set('X-API-Key', tenant.api_key))
          .body as { status: string },
      (m) => m.status === 'processed',
      20_000,
    );
    expect(done.status).toBe('processed');

    // The broker's own view: every connection of this process (the app runs in it) is TLS, on
    // 5671 (the management API lists a new connection within its stats interval: polled).
    type Connection = {
      vhost: string;
      ssl: boolean;
      port: number;
      client_properties: { connection_name?: string };
    };
    const connections = await eventually(
      async () => {
        const answer = await fetch(`http://127.0.0.1:15672/api/connections`, {
          headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` },
        });
        return ((await answer.json()) as Connection[]).filter(
          (c) => c.client_properties.connection_name === rabbitConnectionName(),
        );
      },
      (found) => found.length > 0,
      15_000,
    );
    console.log(
      `AMQPS: message ${done.status}; connections of this process to ${[...new Set(connections.map((c) => c.vhost))].join(', ')}: ${connections.length}, TLS ${connections.filter((c) => c.ssl).length}, ports ${[...new Set(connections.map((c) => c.port))].join(', ')}`,
    );
    expect(connections.length).toBeGreaterThanOrEqual(1);
    expect(connections.every((c) => c.ssl && c.port === 5671 && c.vhost === vhost)).toBe(true);
  });

  it('persists and delivers location updates through Kafka over SASL_SSL (SCRAM-SHA-512)', async () => {
    const tenant = await locationTenant(t, admin, 1);
    await setDelivery(t, tenant.owner, sink.url);
    const [user] = tenant.users;
    const session = await startSession(t, user);
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await request(t.url)
        .post('/api/v1/location/update')
        .set('Authorization', user.bearer)
        .send({ session_id: session, latitude: 52.5 + i / 100, longitude: 13.4, accuracy: 3 });
      expect(res.status).toBe(202);
      ids.push(res.body.event_id as string);
    }
    const delivered = await eventually(
      () => Promise.resolve(ids.filter((id) => sink.accepted.has(id)).length),
      (n) => n === ids.length,
      30_000,
    );
    const [{ n: persisted }] = await adminSql<{ n: number }>(
      `select count(*)::int as n from locations where event_id = any($1::uuid[])`,
      [ids],
      silo.name,
    );
    console.log(
      `Kafka SASL_SSL: accepted ${ids.length}, persisted ${persisted}, delivered ${delivered}`,
    );
    expect([persisted, delivered]).toEqual([ids.length, ids.length]);
  });

  it("a tenant whose CA is wrong gets its own 503; another tenant's requests go on", async () => {
    const healthy = await newTenant();
    const broken = await newTenant();
    await putSecret(
      secretsClient(),
      tenantSecretName(broken.id),
      secretJson({ host: 'localhost', sslmode: 'verify-full', sslrootcert: OTHER_CA() }),
    );
    await request(t.url).post('/admin/cache/clear').set('Authorization', admin.bearer).expect(204);

    const answers = { healthy: new Map<number, number>(), broken: new Map<number, number>() };
    for (let i = 0; i < 5; i++) {
      for (const [name, tenant] of [
        ['healthy', healthy],
        ['broken', broken],
      ] as const) {
        const res = await request(t.url)
          .get('/api/v1/tenant/stats')
          .set('X-API-Key', tenant.api_key);
        answers[name].set(res.status, (answers[name].get(res.status) ?? 0) + 1);
        if (name === 'broken')
          expect([res.status, res.body.code]).toEqual([503, 'TENANCY.DATABASE_UNAVAILABLE']);
      }
    }
    console.log(
      `wrong CA: healthy tenant ${JSON.stringify(Object.fromEntries(answers.healthy))}, broken tenant ${JSON.stringify(Object.fromEntries(answers.broken))}`,
    );
    expect(Object.fromEntries(answers.healthy)).toEqual({ 200: 5 });
    expect(Object.fromEntries(answers.broken)).toEqual({ 503: 5 });
  });
});
