import { Body, Controller, Get, Post, Query } from '@nestjs/common';
import { createZodDto } from 'nestjs-zod';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { Public } from '../../src/shared/auth';
import { createTestApp, type TestApp } from '../support/app';

class ProbeDto extends createZodDto(
  z.object({
    name: z.string().min(2),
    count: z.number().int().positive(),
    blob: z.string().optional(),
  }),
) {}

class OptionalProbeDto extends createZodDto(z.object({ note: z.string().optional() }).strict()) {}

/** Test-only routes behind the real global pipe and filter (public: this file is not about auth). */
@Controller('probe')
class ProbeController {
  constructor(private readonly db: DataSource) {}

  @Public()
  @Post('optional')
  optional(@Body() body: OptionalProbeDto): OptionalProbeDto {
    return body;
  }

  /** Hands its input to PostgreSQL unchecked: what the filter answers for a data exception. */
  @Public()
  @Get('sql')
  async sql(@Query('cast') cast: string, @Query('value') value: string): Promise<unknown> {
    const types: Record<string, string> = { int: 'int', bigint: 'bigint', at: 'timestamptz' };
    return this.db.query(`select $1::${types[cast] ?? 'text'} as v`, [value]);
  }

  @Public()
  @Post()
  echo(@Body() body: ProbeDto): ProbeDto {
    return body;
  }

  @Public()
  @Post('boom')
  boom(): never {
    throw new Error('secret internals: password=hunter2');
  }
}

describe('HTTP pipeline', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ extra: { controllers: [ProbeController] } });
  });
  afterAll(() => t.close());

  it('answers no CORS headers by default (CORS_ALLOWED_ORIGINS unset)', async () => {
    const res = await request(t.url)
      .options('/api/v1/auth/me')
      .set('Origin', 'https://app.example.com')
      .set('Access-Control-Request-Method', 'GET');
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    const plain = await request(t.url).get('/health/live').set('Origin', 'https://app.example.com');
    expect(plain.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('echoes the X-Request-ID a client sends, and makes one up otherwise', async () => {
    const echoed = await request(t.url).get('/health/live').set('X-Request-ID', 'req-42');
    expect(echoed.headers['x-request-id']).toBe('req-42');
    const made = await request(t.url).get('/health/live');
    expect(made.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers a bad body with 400 and per-field messages', async () => {
    const res = await request(t.url).post('/api/v1/probe').send({ name: 'x', count: -1 });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({
      statusCode: 400,
      error: 'Bad Request',
      code: 'COMMON.VALIDATION',
    });
    expect(res.body.details).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ field: 'name' }),
        expect.objectContaining({ field: 'count' }),
      ]),
    );
    expect(res.body.request_id).toBe(res.headers['x-request-id']);
  });

  it('answers malformed JSON with 400 in the same envelope', async () => {
    const res = await request(t.url)
      .post('/api/v1/probe')
      .set('content-type', 'application/json')
      .send('{"name": ');
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
    expect(res.body.request_id).toBe(res.headers['x-request-id']);
  });

  it('answers a body over the limit with 413', async () => {
    const res = await request(t.url)
      .post('/api/v1/probe')
      .send({ name: 'big', count: 1, blob: 'x'.repeat(1024 * 1024 + 10) });
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ statusCode: 413, error: 'Payload Too Large' });
  });

  it('hides an unknown error behind a generic 500 with the request id', async () => {
    const res = await request(t.url).post('/api/v1/probe/boom').set('X-Request-ID', 'boom-1');
    expect(res.status).toBe(500);
    expect(res.body).toEqual({
      statusCode: 500,
      error: 'Internal Server Error',
      message: 'Internal server error',
      request_id: 'boom-1',
    });
  });

  it('answers an unknown route with 404 in the envelope', async () => {
    const res = await request(t.url).get('/api/v1/nothing-here');
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ statusCode: 404, error: 'Not Found' });
    expect(res.body.request_id).toBe(res.headers['x-request-id']);
  });

  it('serves the OpenAPI document and UI', async () => {
    const json = await request(t.url).get('/docs-json');
    expect(json.status).toBe(200);
    expect(json.body.openapi).toMatch(/^3\./);
    expect(Object.keys(json.body.paths)).toEqual(
      expect.arrayContaining(['/health/ready', '/api/v1/context']),
    );
    const ui = await request(t.url).get('/docs');
    expect(ui.status).toBe(200);
    expect(ui.text).toContain('swagger');
  });

  it('exports process metrics and an HTTP duration histogram by route and status', async () => {
    await request(t.url).get('/health/live');
    const res = await request(t.url).get('/metrics');
    expect(res.status).toBe(200);
    expect(res.text).toContain('process_cpu_user_seconds_total');
    expect(res.text).toMatch(
      /http_request_duration_seconds_count\{method="GET",route="\/health\/live",status_code="200"\} [1-9]/,
    );
  });

  it("serves the original systems' paths as aliases of the /api/v1 handlers", async () => {
    const canonical = await request(t.url).post('/api/v1/auth/login').send({});
    const legacy = await request(t.url).post('/auth/login').send({});
    expect(legacy.status).toBe(400);
    expect(legacy.body.details).toEqual(canonical.body.details);
    expect((await request(t.url).get('/tenants')).status).toBe(401);
    expect((await request(t.url).get('/api/v1/tenants')).status).toBe(401);
    expect((await request(t.url).get('/health/live')).status).toBe(200);
  });

  it('reads an empty application/json body as {} and keeps a JSON null a 400', async () => {
    const empty = await request(t.url)
      .post('/api/v1/probe/optional')
      .set('content-type', 'application/json');
    expect(empty.status).toBe(201);
    expect(empty.body).toEqual({});
    const nullBody = await request(t.url)
      .post('/api/v1/probe/optional')
      .set('content-type', 'application/json')
      .send('null');
    expect(nullBody.status).toBe(400);
    expect(nullBody.body.code).toBe('COMMON.VALIDATION');
    const required = await request(t.url)
      .post('/api/v1/probe')
      .set('content-type', 'application/json');
    expect(required.status).toBe(400);
    expect(required.body.details).toEqual(
      expect.arrayContaining([expect.objectContaining({ field: 'name' })]),
    );
  });

  it.each([
    ['a lone surrogate in a value', '{"name":"ok","count":1,"blob":"a\\ud800b"}', 'blob'],
    ['a lone low surrogate', '{"name":"\\udfff!","count":1}', 'name'],
    ['U+0000 in a value', '{"name":"ok","count":1,"blob":"a\\u0000"}', 'blob'],
    ['U+0000 in a nested key', '{"name":"ok","count":1,"x":[{"\\u0000":1}]}', 'x.0'],
  ])('refuses %s in any JSON body with 400 naming the field', async (_label, body, field) => {
    const res = await request(t.url)
      .post('/api/v1/probe')
      .set('content-type', 'application/json')
      .send(body);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'COMMON.VALIDATION', details: [{ field }] });
    // A surrogate pair (an emoji) is well-formed and passes.
    const fine = await request(t.url)
      .post('/api/v1/probe')
      .set('content-type', 'application/json')
      .send('{"name":"\\u00e9\\ud83d\\ude00","count":1}');
    expect([fine.status, fine.body]).toEqual([201, { name: 'é\u{1F600}', count: 1 }]);
  });

  it('refuses U+0000 in a query string and a form body the same way', async () => {
    const query = await request(t.url).get('/api/v1/probe/sql?cast=text&value=a%00b');
    expect(query.status).toBe(400);
    expect(query.body).toMatchObject({ code: 'COMMON.VALIDATION', details: [{ field: 'value' }] });
    const form = await request(t.url).post('/api/v1/probe').type('form').send('name=a%00b&count=1');
    expect(form.status).toBe(400);
    expect(form.body).toMatchObject({ code: 'COMMON.VALIDATION', details: [{ field: 'name' }] });
  });

  it.each([
    ['22P02 (not an integer)', 'int', 'abc'],
    ['22003 (bigint overflow)', 'bigint', '9999999999999999999'],
    ['22008 (year 0000)', 'at', '0000-01-01T00:00:00Z'],
    ['22007 (not a date)', 'at', 'yesterday-ish'],
  ])('answers a PostgreSQL data exception %s with 400, not 500', async (_label, cast, value) => {
    const res = await request(t.url).get('/api/v1/probe/sql').query({ cast, value });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ statusCode: 400, code: 'COMMON.VALIDATION' });
    expect(res.body.message).not.toContain('select');
  });
});

describe('HTTP pipeline: CORS for configured origins', () => {
  let t: TestApp;
  const saved = process.env.CORS_ALLOWED_ORIGINS;

  beforeAll(async () => {
    process.env.CORS_ALLOWED_ORIGINS = 'https://app.example.com, http://localhost:5173';
    t = await createTestApp();
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env.CORS_ALLOWED_ORIGINS;
    else process.env.CORS_ALLOWED_ORIGINS = saved;
    await t.close();
  });

  it('answers the preflight of an allowed origin with the methods and headers a client sends', async () => {
    const res = await request(t.url)
      .options('/api/v1/messages')
      .set('Origin', 'https://app.example.com')
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'authorization, content-type, idempotency-key');
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(res.headers['access-control-allow-methods']).toContain('POST');
    expect(res.headers['access-control-allow-headers']).toMatch(/Idempotency-Key/i);
    expect(res.headers['access-control-allow-credentials']).toBeUndefined();
    expect(Number(res.headers['access-control-max-age'])).toBe(600);
  });

  it('lets the browser read an allowed answer (and its exposed headers), and no other origin', async () => {
    const allowed = await request(t.url)
      .get('/api/v1/auth/me')
      .set('Origin', 'http://localhost:5173');
    expect(allowed.status).toBe(401);
    expect(allowed.headers['access-control-allow-origin']).toBe('http://localhost:5173');
    expect(allowed.headers['access-control-expose-headers']).toMatch(/Retry-After/);
    const other = await request(t.url)
      .options('/api/v1/auth/me')
      .set('Origin', 'https://evil.example.net')
      .set('Access-Control-Request-Method', 'GET');
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    const otherGet = await request(t.url)
      .get('/api/v1/auth/me')
      .set('Origin', 'https://evil.example.net');
    expect(otherGet.headers['access-control-allow-origin']).toBeUndefined();
  });
});
