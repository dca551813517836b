import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTesseraClient, TesseraError, unwrap } from '../src/index.js';

/**
 * The client's layers against a real HTTP server (node:http on a free port): what the server
 * receives is asserted, never a stubbed fetch.
 */

interface Seen {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

type Handler = (seen: Seen, response: ServerResponse) => void | Promise<void>;

async function serve(handler: Handler): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const entry: Seen = {
        method: request.method ?? '',
        path: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString(),
      };
      seen.push(entry);
      void handler(entry, response);
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, seen, server };
}

function json(response: ServerResponse, status: number, body: unknown, headers = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}

function envelope(status: number, code: string, message: string) {
  return { statusCode: status, error: 'Error', message, code, request_id: 'req-1' };
}

const tokens = (access: string) => ({
  access_token: access,
  id_token: 'id',
  refresh_token: 'refresh-1',
  token_type: 'Bearer',
  expires_in: 3600,
  session_id: 's',
  user: { user_id: 'u', email: 'a@b.c', role: 'user', tenant_id: TENANT, is_admin: false },
});

const TENANT = '11111111-1111-4111-8111-111111111111';
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((done) => s.close(done))));
});

async function start(handler: Handler) {
  const s = await serve(handler);
  servers.push(s.server);
  return s;
}

describe('bearer refresh', () => {
  it('refreshes once for many concurrent 401s; each call is sent again with the new token', async () => {
    const CALLS = 8;
    let expiredAnswers = 0;
    let releaseRefresh: () => void = () => undefined;
    const everyCallRefused = new Promise<void>((done) => (releaseRefresh = done));
    const { url, seen } = await start(async (req, res) => {
      if (req.path === '/api/v1/auth/refresh') {
        // Held until every call has met its 401: all of them wait on this one refresh.
        await everyCallRefused;
        return json(res, 200, tokens('fresh'));
      }
      if (req.headers.authorization === 'Bearer fresh') return json(res, 200, { ok: true });
      json(res, 401, envelope(401, 'AUTH.INVALID_TOKEN', 'expired'));
      if (++expiredAnswers === CALLS) releaseRefresh();
    });
    const refreshed: string[] = [];
    const client = createTesseraClient({
      baseUrl: url,
      auth: {
        accessToken: 'stale',
        refreshToken: 'refresh-1',
        sessionTenantId: TENANT,
        onRefresh: (t) => refreshed.push(t.access_token),
      },
    });

    const results = await Promise.all(
      Array.from({ length: CALLS }, () => client.GET('/api/v1/auth/me')),
    );

    const refreshes = seen.filter((s) => s.path === '/api/v1/auth/refresh');
    console.log(
      `refresh single-flight: ${CALLS} calls, ${expiredAnswers} answered 401, ${refreshes.length} refresh, ` +
        `${results.filter((r) => r.response.status === 200).length} succeeded after it`,
    );
    expect(refreshes).toHaveLength(1);
    expect(JSON.parse(refreshes[0].body)).toEqual({
      refresh_token: 'refresh-1',
      tenant_id: TENANT,
    });
    expect(refreshed).toEqual(['fresh']);
    expect(results.map((r) => r.response.status)).toEqual(Array(CALLS).fill(200));
    expect(seen.filter((s) => s.headers.authorization === 'Bearer fresh')).toHaveLength(CALLS);
  });

  it('sends a call again without a second refresh when its 401 is for a token already replaced', async () => {
    let holdSecond: () => void = () => undefined;
    const secondHeld = new Promise<void>((done) => (holdSecond = done));
    let staleCalls = 0;
    const { url, seen } = await start(async (req, res) => {
      if (req.path === '/api/v1/auth/refresh') return json(res, 200, tokens('fresh'));
      if (req.headers.authorization === 'Bearer fresh') return json(res, 200, { ok: true });
      // The second stale call is answered only after the first has refreshed and succeeded.
      if (++staleCalls === 2) await secondHeld;
      json(res, 401, envelope(401, 'AUTH.INVALID_TOKEN', 'expired'));
    });
    const client = createTesseraClient({
      baseUrl: url,
      auth: { accessToken: 'stale', refreshToken: 'refresh-1' },
    });
    const first = client.GET('/api/v1/auth/me');
    const second = client.GET('/api/v1/auth/sessions');
    expect((await first).response.status).toBe(200);
    holdSecond();
    expect((await second).response.status).toBe(200);
    expect(seen.filter((s) => s.path === '/api/v1/auth/refresh')).toHaveLength(1);
  });

  it('returns the 401 and reports it when the refresh is refused', async () => {
    const { url, seen } = await start((_req, res) =>
      json(res, 401, envelope(401, 'AUTH.INVALID_TOKEN', 'revoked')),
    );
    const failed: number[] = [];
    const client = createTesseraClient({
      baseUrl: url,
      auth: {
        accessToken: 'stale',
        refreshToken: 'revoked',
        onRefreshFailed: (r) => failed.push(r.status),
      },
    });
    const { error, response } = await client.GET('/api/v1/auth/me');
    expect(response.status).toBe(401);
    expect(error?.code).toBe('AUTH.INVALID_TOKEN');
    expect(failed).toEqual([401]);
    expect(seen.map((s) => s.path)).toEqual(['/api/v1/auth/me', '/api/v1/auth/refresh']);
  });

  it('refreshes under a base URL with a path prefix', async () => {
    const { url, seen } = await start((req, res) => {
      if (req.path === '/tessera/api/v1/auth/refresh') return json(res, 200, tokens('fresh'));
      if (req.headers.authorization === 'Bearer fresh') return json(res, 200, { ok: true });
      json(res, 401, envelope(401, 'AUTH.INVALID_TOKEN', 'expired'));
    });
    const client = createTesseraClient({
      baseUrl: `${url}/tessera/`,
      auth: { accessToken: 'stale', refreshToken: 'r' },
    });
    const { response } = await client.GET('/api/v1/auth/me');
    expect(response.status).toBe(200);
    expect(seen.map((s) => s.path)).toEqual([
      '/tessera/api/v1/auth/me',
      '/tessera/api/v1/auth/refresh',
      '/tessera/api/v1/auth/me',
    ]);
  });

  it('sends an API key and the chosen tenant, never a bearer header', async () => {
    const { url, seen } = await start((_req, res) => json(res, 200, { ok: true }));
    const client = createTesseraClient({ baseUrl: url, auth: { apiKey: 'tsk_1' } });
    client.setTenant(TENANT);
    await client.GET('/api/v1/tenant/info');
    // A call's own X-Tenant-ID wins over the client's.
    const other = '22222222-2222-4222-8222-222222222222';
    await client.GET('/api/v1/tenant/info', { params: { header: { 'X-Tenant-ID': other } } });
    expect(seen.map((s) => [s.headers['x-api-key'], s.headers['x-tenant-id']])).toEqual([
      ['tsk_1', TENANT],
      ['tsk_1', other],
    ]);
    expect(seen.every((s) => s.headers.authorization === undefined)).toBe(true);
  });
});

describe('retries', () => {
  /** Records each wait the client asks for, and waits it for real. */
  function recordingSleep() {
    const waits: number[] = [];
    return {
      waits,
      sleep: (ms: number) => {
        waits.push(ms);
        return new Promise<void>((done) => setTimeout(done, ms));
      },
    };
  }

  it('waits at least Retry-After after a 429, with bounded jitter, then succeeds', async () => {
    let calls = 0;
    const { url, seen } = await start((_req, res) =>
      ++calls === 1
        ? json(res, 429, envelope(429, 'EVENTS.RATE_LIMITED', 'slow down'), { 'retry-after': '1' })
        : json(res, 201, { id: 'e1' }),
    );
    const { waits, sleep } = recordingSleep();
    const client = createTesseraClient({
      baseUrl: url,
      auth: { apiKey: 'k' },
      retry: { sleep, random: () => 0.5 },
    });
    const started = Date.now();
    const { response } = await client.POST('/api/v1/events', {
      body: { type: 'order.created', data: {} } as never,
    });
    console.log(
      `Retry-After: 1 → waited ${waits.join(', ')} ms (second request ${Date.now() - started} ms after the first)`,
    );
    expect(response.status).toBe(201);
    expect(seen).toHaveLength(2);
    expect(waits).toHaveLength(1);
    expect(waits[0]).toBeGreaterThanOrEqual(1000);
    expect(waits[0]).toBeLessThanOrEqual(1200);
    // The same body both times.
    expect(seen[1].body).toBe(seen[0].body);
  });

  it('gives up after the bounded attempts and returns the last answer, typed by the envelope', async () => {
    const { url, seen } = await start((_req, res) =>
      json(res, 503, envelope(503, 'AUTH.SESSION_STORE_UNAVAILABLE', 'down'), {
        'retry-after': '0',
      }),
    );
    const client = createTesseraClient({
      baseUrl: url,
      retry: { attempts: 3, sleep: () => Promise.resolve() },
    });
    const call = client.GET('/api/v1/tenant/info');
    await expect(unwrap(call)).rejects.toMatchObject({
      status: 503,
      code: 'AUTH.SESSION_STORE_UNAVAILABLE',
      retryAfterSeconds: 0,
      requestId: 'req-1',
    });
    expect(seen).toHaveLength(3);
  });

  it('returns a Retry-After longer than the longest wait at once', async () => {
    const { url, seen } = await start((_req, res) =>
      json(res, 429, envelope(429, 'EVENTS.RATE_LIMITED', 'later'), { 'retry-after': '3600' }),
    );
    const client = createTesseraClient({ baseUrl: url, retry: { maxDelayMs: 5000 } });
    const error = await unwrap(client.GET('/api/v1/events/stats')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TesseraError);
    expect((error as TesseraError).retryAfterSeconds).toBe(3600);
    expect(seen).toHaveLength(1);
  });

  it('sends a GET again after its connection is cut, never a POST that takes no key', async () => {
    let cut = 0;
    const { url, seen } = await start((req, res) => {
      // The first request of each path loses its connection before any answer.
      if (seen.filter((s) => s.path === req.path).length === 1) {
        cut++;
        return void res.socket?.destroy();
      }
      json(res, 200, { ok: true });
    });
    const client = createTesseraClient({ baseUrl: url, retry: { sleep: () => Promise.resolve() } });
    const { response } = await client.GET('/api/v1/tenant/info');
    expect(response.status).toBe(200);
    await expect(client.POST('/api/v1/events', { body: { type: 'x' } as never })).rejects.toThrow();
    expect(cut).toBe(2);
    expect(seen.map((s) => `${s.method} ${s.path}`)).toEqual([
      'GET /api/v1/tenant/info',
      'GET /api/v1/tenant/info',
      'POST /api/v1/events',
    ]);
  });

  it('does not send a POST that takes no Idempotency-Key again after a 503', async () => {
    const { url, seen } = await start((_req, res) =>
      json(res, 503, envelope(503, 'LOCATION.UNAVAILABLE', 'later'), { 'retry-after': '0' }),
    );
    const client = createTesseraClient({ baseUrl: url, retry: { sleep: () => Promise.resolve() } });
    const { response } = await client.POST('/api/v1/location/update', {
      body: {} as never,
    });
    expect(response.status).toBe(503);
    expect(seen).toHaveLength(1);
    expect(seen[0].headers['idempotency-key']).toBeUndefined();
  });
});

describe('Idempotency-Key', () => {
  it('gives a publish a key and sends the same key on every retry', async () => {
    const answers = [429, 503, 202];
    const { url, seen } = await start((_req, res) => {
      const status = answers.shift()!;
      json(res, status, status === 202 ? { id: 'm1' } : envelope(status, 'X.Y', 'later'), {
        'retry-after': '0',
      });
    });
    const client = createTesseraClient({
      baseUrl: url,
      auth: { apiKey: 'k' },
      retry: { attempts: 3, sleep: () => Promise.resolve() },
    });
    const { response } = await client.POST('/api/v1/messages', {
      body: { payload: { n: 1 } } as never,
    });
    const keys = seen.map((s) => s.headers['idempotency-key']);
    console.log(`publish: ${seen.map((s) => s.method).join(', ')} with keys ${keys.join(', ')}`);
    expect(response.status).toBe(202);
    expect(seen).toHaveLength(3);
    expect(keys[0]).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(new Set(keys).size).toBe(1);
    expect(new Set(seen.map((s) => s.body)).size).toBe(1);
  });

  it("keeps the caller's own key, and a fresh call gets a fresh key", async () => {
    const { url, seen } = await start((_req, res) => json(res, 202, { id: 'm' }));
    const client = createTesseraClient({ baseUrl: url, auth: { apiKey: 'k' } });
    const body = { payload: { n: 1 } } as never;
    await client.POST('/api/v1/tenants/{id}/messages', {
      params: { path: { id: TENANT }, header: { 'Idempotency-Key': 'order-42' } },
      body,
    });
    await client.POST('/api/v1/messages', { body });
    await client.POST('/api/v1/messages', { body });
    await client.POST('/api/v1/events', { body });
    const keys = seen.map((s) => s.headers['idempotency-key']);
    expect(keys[0]).toBe('order-42');
    expect(keys[1]).toEqual(expect.any(String));
    expect(keys[2]).toEqual(expect.any(String));
    expect(keys[1]).not.toBe(keys[2]);
    expect(keys[3]).toBeUndefined();
  });

  it('keeps the key across a token refresh', async () => {
    const { url, seen } = await start((req, res) => {
      if (req.path === '/api/v1/auth/refresh') return json(res, 200, tokens('fresh'));
      if (req.headers.authorization === 'Bearer fresh') return json(res, 202, { id: 'm' });
      json(res, 401, envelope(401, 'AUTH.INVALID_TOKEN', 'expired'));
    });
    const client = createTesseraClient({
      baseUrl: url,
      auth: { accessToken: 'stale', refreshToken: 'r' },
    });
    const { response } = await client.POST('/api/v1/messages', {
      body: { payload: { n: 1 } } as never,
    });
    const publishes = seen.filter((s) => s.path === '/api/v1/messages');
    expect(response.status).toBe(202);
    expect(publishes).toHaveLength(2);
    expect(publishes[1].headers['idempotency-key']).toBe(publishes[0].headers['idempotency-key']);
    expect(publishes[1].body).toBe(publishes[0].body);
  });
});
