import { Body, Controller, Post } from '@nestjs/common';
import { createZodDto } from 'nestjs-zod';
import request from 'supertest';
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

/** Test-only routes behind the real global pipe and filter (public: this file is not about auth). */
@Controller('probe')
class ProbeController {
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
});
