import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import request from 'supertest';
import { REFUSES_VALID_INPUT } from '../../src/http/openapi';
import { createTestApp, type TestApp } from '../support/app';
import { openApiProblems } from '../support/contract';
import { createTenant, type Identity, platformAdmin, tenantMember } from '../support/identities';

/**
 * The OpenAPI document is true: schemathesis 4 (from PyPI, in a venv scripts/ensure-schemathesis.sh
 * makes) walks every operation of /docs-json with every check (`--checks all`: no 5xx, documented
 * status codes, response schemas and content types, schema-violating input refused, schema-valid
 * input accepted, 405 for undeclared methods, auth not ignored …) as a platform admin, a tenant
 * owner, an API key and anonymous, with a fixed seed and a bounded number of examples. Routes of
 * new modules join as they land: nothing here names them.
 *
 * Schemathesis reuses real ids from responses, so the data it may damage is fenced:
 * - the admin sees every tenant of the shared database: it makes no change under
 *   /tenants/{id} (rename, delete, users, keys) — it may only create tenants of its own;
 * - the main owner never changes or removes members (it could demote or remove itself) and never
 *   ends its own session; those operations run last, as the owner of a throwaway tenant.
 */

const ST_SEED = 20261202;
const MAX_EXAMPLES = Number(process.env.CONTRACT_MAX_EXAMPLES ?? 10);
/** Anonymous callers mostly meet 401s: fewer examples say as much. */
const ANONYMOUS_EXAMPLES = Math.max(1, Math.ceil(MAX_EXAMPLES / 3));
/** Each run's own deadline, inside its Jest timeout: past it the run is stopped and fails. */
const RUN_DEADLINE_MS = 420_000;
const RUN_TIMEOUT_MS = RUN_DEADLINE_MS + 30_000;
const ROOT = resolve(__dirname, '../..');

// Filters on schemathesis' operation names, `METHOD /path`.
/** Operations that end the caller's own session. */
const SESSION_ENDERS = String.raw`^POST /api/v1/auth/logout$|^DELETE /api/v1/auth/sessions/\{id\}$`;
/** Changing or removing members: an owner could demote or remove itself. */
const MEMBER_CHANGES = String.raw`^(PUT|DELETE) /api/v1/tenants?(/\{id\})?/users/\{user_id\}$`;
/**
 * Any change under one tenant's path (`/api/v1/tenants/{id}/…`, `/admin/tenants/{id}/…`): the
 * admin would reach other suites' tenants (rename, delete, members, keys, limits, queues).
 */
const TENANT_CHANGES = String.raw`^(POST|PUT|PATCH|DELETE) /(.+/)?tenants/\{id\}`;

interface Run {
  credential: string;
  operations: number;
  testCases: number;
  failures: number;
  seconds: number;
  output: string;
  exitCode: number | null;
}

interface DocOperation {
  operationId?: string;
  [REFUSES_VALID_INPUT]?: string;
}

/* eslint-disable @typescript-eslint/no-explicit-any -- the document is read as plain JSON */
interface OpenApiDoc {
  openapi: string;
  paths: Record<string, Record<string, any>>;
  components: { schemas: Record<string, any> };
}
/* eslint-enable @typescript-eslint/no-explicit-any */

function walk(
  node: unknown,
  at: string,
  visit: (node: Record<string, unknown>, at: string) => void,
): void {
  if (Array.isArray(node)) return node.forEach((item, i) => walk(item, `${at}/${i}`, visit));
  if (!node || typeof node !== 'object') return;
  visit(node as Record<string, unknown>, at);
  for (const [key, value] of Object.entries(node)) {
    if (key !== 'enum' && key !== 'example' && key !== 'default')
      walk(value, `${at}/${key}`, visit);
  }
}

describe('the OpenAPI document describes the API (schemathesis, every check)', () => {
  let t: TestApp;
  let st: string;
  let admin: Identity;
  let owner: Identity;
  let apiKey: string;
  let tenantId: string;
  let throwawayOwner: Identity;
  /** The tenant the admin picks with X-Tenant-ID for tenant-scoped routes (its changes land there). */
  let adminTenantId: string;
  let configDir: string;
  const runs: Run[] = [];

  beforeAll(async () => {
    const ensured = await promisify(execFile)(
      'bash',
      [join(ROOT, 'scripts/ensure-schemathesis.sh')],
      {
        cwd: ROOT,
      },
    );
    st = ensured.stdout.trim().split('\n').at(-1)!;

    t = await createTestApp();
    admin = await platformAdmin(t);
    const tenant = await createTenant(t, admin);
    tenantId = tenant.id;
    apiKey = tenant.api_key;
    owner = await tenantMember(t, tenant.id, 'tenant_owner');
    const throwaway = await createTenant(t, admin);
    throwawayOwner = await tenantMember(t, throwaway.id, 'tenant_owner');
    adminTenantId = (await createTenant(t, admin)).id;

    configDir = mkdtempSync(join(tmpdir(), 'tessera-contract-'));
    writeFileSync(join(configDir, 'schemathesis.toml'), await configFor(t));
  }, 240_000);

  afterAll(async () => {
    console.log(
      [
        'schemathesis contract runs (seed %d, at most %d examples per operation):',
        ...runs.map(
          (r) =>
            `  ${r.credential.padEnd(16)} ${String(r.operations).padStart(3)} operations, ` +
            `${String(r.testCases).padStart(5)} test cases, ${r.failures} failures, ${r.seconds.toFixed(1)} s`,
        ),
      ].join('\n'),
      ST_SEED,
      MAX_EXAMPLES,
    );
    if (configDir) rmSync(configDir, { recursive: true, force: true });
    await t?.close();
  });

  /** A schemathesis run over the document with one credential; resolves with its figures. */
  async function schemathesis(
    credential: string,
    headers: string[],
    filters: string[],
    maxExamples = MAX_EXAMPLES,
  ): Promise<Run> {
    const args = [
      '--config-file',
      join(configDir, 'schemathesis.toml'),
      'run',
      `${t.url}/docs-json`,
      '--checks',
      'all',
      '--max-examples',
      String(maxExamples),
      '--seed',
      String(ST_SEED),
      '--generation-database',
      'none',
      '--generation-with-security-parameters',
      'false',
      // `--checks all` also bounds response times (10 s); tests here never assert timings (a
      // shared 2-core machine), so only a hang counts.
      '--max-response-time',
      '120',
      '--request-timeout',
      '120',
      // One: with two, Hypothesis' internal caches race (KeyError inside schemathesis, now and then).
      '--workers',
      '1',
      '--no-color',
      ...headers.flatMap((h) => ['-H', h]),
      ...filters,
    ];
    const started = performance.now();
    const { output, exitCode } = await new Promise<{ output: string; exitCode: number | null }>(
      (done, fail) => {
        // Asynchronous on purpose: the app under test answers from this very process.
        const child = spawn(st, args, { cwd: configDir, env: { ...process.env, NO_COLOR: '1' } });
        let text = '';
        // Never left running past its test (it would overlap the next run).
        const deadline = setTimeout(() => {
          text += `\n(stopped: no result within ${RUN_DEADLINE_MS / 1000} s)\n`;
          child.kill('SIGKILL');
        }, RUN_DEADLINE_MS);
        child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
        child.on('error', fail);
        child.on('close', (code) => {
          clearTimeout(deadline);
          done({ output: text, exitCode: code });
        });
      },
    );
    const run: Run = {
      credential,
      operations: Number(/Tested:\s+(\d+)/.exec(output)?.[1] ?? 0),
      testCases: Number(/(\d+) generated/.exec(output)?.[1] ?? 0),
      failures: Number(/(\d+) unique failures?/.exec(output)?.[1] ?? (exitCode === 0 ? 0 : -1)),
      seconds: (performance.now() - started) / 1000,
      output,
      exitCode,
    };
    runs.push(run);
    return run;
  }

  function expectClean(run: Run): void {
    if (run.exitCode !== 0) {
      const failures = run.output.slice(run.output.indexOf('FAILURES') - 40);
      console.log(
        `schemathesis as ${run.credential} (exit ${run.exitCode}):\n${failures.slice(0, 40_000)}`,
      );
    } else {
      console.log(
        `schemathesis as ${run.credential}:\n${run.output.slice(run.output.indexOf('SUMMARY') - 40)}`,
      );
    }
    expect({ credential: run.credential, exitCode: run.exitCode, failures: run.failures }).toEqual({
      credential: run.credential,
      exitCode: 0,
      failures: 0,
    });
    expect(run.operations).toBeGreaterThan(0);
  }

  const excluding = (...regexes: string[]) => ['--exclude-name-regex', regexes.join('|')];

  /**
   * The fence held: the credentials still work (a run whose session died would only see 401s,
   * which schemathesis merely warns about), the owner is still owner, the suite's tenants live.
   */
  async function expectFenceHeld(): Promise<void> {
    const me = await request(t.url).get('/api/v1/auth/me').set('Authorization', owner.bearer);
    expect([me.status, me.body.role]).toEqual([200, 'tenant_owner']);
    const adminMe = await request(t.url).get('/api/v1/auth/me').set('Authorization', admin.bearer);
    expect([adminMe.status, adminMe.body.is_admin]).toEqual([200, true]);
    const byKey = await request(t.url).get('/api/v1/tenant/info').set('X-API-Key', apiKey);
    expect([byKey.status, byKey.body.tenant_id]).toEqual([200, tenantId]);
    for (const id of [tenantId, adminTenantId]) {
      const tenant = await request(t.url)
        .get(`/api/v1/tenants/${id}`)
        .set('Authorization', admin.bearer);
      expect([tenant.status, tenant.body.status]).toEqual([200, 'active']);
    }
  }

  it('is an OpenAPI 3.0 document: nullable fields are `nullable`, never a type array or `type: array`', async () => {
    const doc = (await request(t.url).get('/docs-json')).body as OpenApiDoc;
    expect(doc.openapi).toMatch(/^3\.0\./);
    const typeArrays: string[] = [];
    walk(doc, '#', (node, at) => {
      if (Array.isArray(node.type)) typeArrays.push(at);
    });
    expect(typeArrays).toEqual([]);

    const schemas = doc.components.schemas;
    const nullableString = { type: 'string', nullable: true };
    expect(schemas.MeView.properties.tenant_id).toEqual(nullableString);
    expect(schemas.MeView.properties.session_id).toEqual(nullableString);
    expect(schemas.TenantUserListDto.properties.next_cursor).toEqual(nullableString);
    expect(schemas.TenantUserDto.properties.last_login_at).toEqual(nullableString);
    expect(schemas.TokensView.properties.user.properties.tenant_id).toEqual(nullableString);
  });

  it('states the guard, the path ids, X-Tenant-ID, the API key and the body rules', async () => {
    const doc = (await request(t.url).get('/docs-json')).body as OpenApiDoc;
    const tenant = doc.paths['/api/v1/tenants/{id}'];
    expect(tenant.get.parameters).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          name: 'id',
          in: 'path',
          schema: { type: 'string', format: 'uuid' },
        }),
        expect.objectContaining({ name: 'X-Tenant-ID', in: 'header', required: false }),
      ]),
    );
    expect(Object.keys(tenant.get.responses).sort()).toEqual([
      '200',
      '400',
      '401',
      '403',
      '404',
      '503',
    ]);
    expect(tenant.put.responses['409']).toBeDefined();
    expect(tenant.get.responses['404'].content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/ErrorBody',
    });
    // An API key may read its tenant, not delete it; /auth/me needs a user session.
    expect(tenant.get.security).toEqual([{ bearer: [] }, { api_key: [] }]);
    expect(tenant.delete.security).toEqual([{ bearer: [] }]);
    expect(doc.paths['/api/v1/auth/me'].get.security).toEqual([{ bearer: [] }]);
    expect(doc.paths['/api/v1/auth/login'].post.security).toBeUndefined();

    const schemas = doc.components.schemas;
    // One of two fields, each alternative typed (a bare `{required}` reads as `unknown` to generators).
    const oneOf = (dto: string, a: string, b: string) =>
      expect(schemas[dto].anyOf).toEqual([
        { type: 'object', required: [a], properties: schemas[dto].properties },
        { type: 'object', required: [b], properties: schemas[dto].properties },
      ]);
    oneOf('LoginDto', 'email', 'username');
    oneOf('RegisterDto', 'email', 'username');
    oneOf('CreateEventDto', 'event_type', 'type');
    expect(schemas.UpdateTenantDto.minProperties).toBe(1);
  });

  it('gives every operation a method name, answer schemas, examples and Retry-After', async () => {
    const doc = (await request(t.url).get('/docs-json')).body as OpenApiDoc;
    const problems = openApiProblems(doc);
    const operations = Object.values(doc.paths).flatMap((item) => Object.keys(item)).length;
    console.log(`contract: ${operations} operations, ${problems.length} problems`);
    expect(problems).toEqual([]);
    expect(doc.paths['/api/v1/events'].post.operationId).toBe('events.create');
    expect(doc.paths['/api/v1/events/batch'].post.operationId).toBe('events.createBatch');
    expect(doc.paths['/api/v1/auth/sessions'].get.operationId).toBe('auth.listSessions');
    expect(doc.paths['/api/v1/events'].post.responses['429'].headers).toEqual(
      expect.objectContaining({
        'Retry-After': expect.objectContaining({ required: true }),
        'X-RateLimit-Limit': expect.anything(),
        'X-RateLimit-Remaining': expect.anything(),
      }),
    );
  });

  it(
    'as a platform admin (no change to tenants it did not create)',
    async () => {
      const run = await schemathesis(
        'platform admin',
        [`Authorization: ${admin.bearer}`, `X-Tenant-ID: ${adminTenantId}`],
        excluding(SESSION_ENDERS, TENANT_CHANGES),
      );
      expectClean(run);
      await expectFenceHeld();
    },
    RUN_TIMEOUT_MS,
  );

  it(
    'as a tenant owner',
    async () => {
      const run = await schemathesis(
        'tenant owner',
        [`Authorization: ${owner.bearer}`],
        excluding(SESSION_ENDERS, MEMBER_CHANGES),
      );
      expectClean(run);
      await expectFenceHeld();
    },
    RUN_TIMEOUT_MS,
  );

  it(
    'with an API key',
    async () => {
      expectClean(await schemathesis('API key', [`X-API-Key: ${apiKey}`], []));
      await expectFenceHeld();
    },
    RUN_TIMEOUT_MS,
  );

  it(
    'anonymous',
    async () => {
      expectClean(await schemathesis('anonymous', [], [], ANONYMOUS_EXAMPLES));
      await expectFenceHeld();
    },
    RUN_TIMEOUT_MS,
  );

  it(
    'member changes and session ends, as the owner of a throwaway tenant',
    async () => {
      const run = await schemathesis(
        'throwaway owner',
        [`Authorization: ${throwawayOwner.bearer}`],
        ['--include-name-regex', `${MEMBER_CHANGES}|${SESSION_ENDERS}`],
      );
      expectClean(run);
    },
    RUN_TIMEOUT_MS,
  );
});

/**
 * What no schema can state, the document states per operation (`x-refuses-valid-input`, see
 * src/http/openapi.ts: a list's opaque cursor, a secret that must exist …): there, a 400 for
 * schema-valid input is accepted. Readiness answers 503 while a dependency is down — its purpose,
 * not a server error — and so does the dashboard page until `npm run build`.
 */
async function configFor(t: TestApp): Promise<string> {
  const doc = (await request(t.url).get('/docs-json')).body as {
    paths: Record<string, Record<string, DocOperation>>;
  };
  const refusing = Object.values(doc.paths)
    .flatMap((item) => Object.values(item))
    .filter((op) => op[REFUSES_VALID_INPUT] && op.operationId)
    .map((op) => op.operationId!);
  const lines = [
    // The examples are checked against their schemas above; sending them as well (to every
    // operation, with every credential) would only make the runs longer.
    '[phases.examples]',
    'enabled = false',
    '',
    // U+0000 is refused in every string of every input (the document's 400 says so; JSON Schema
    // cannot state it for every string and key): schema-valid input here never holds one.
    '[generation]',
    'allow-x00 = false',
    '',
    '[[operations]]',
    'include-path-regex = "^/health(/ready)?$|^/dashboard"',
    'checks.not_a_server_error.expected-statuses = ["2XX", "3XX", "4XX", 503]',
    '',
  ];
  if (refusing.length > 0) {
    lines.push(
      '[[operations]]',
      `include-operation-id = ${JSON.stringify(refusing)}`,
      'checks.positive_data_acceptance.expected-statuses = ["2XX", "3XX", 400, 401, 403, 404, 409, 429]',
      '',
    );
  }
  return lines.join('\n');
}
