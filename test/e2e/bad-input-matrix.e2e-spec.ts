import { createTestApp, type TestApp } from '../support/app';
import { createTenant, type Identity, platformAdmin, tenantMember } from '../support/identities';

/**
 * Bad input is a 4xx on every route, generated from the OpenAPI document (/docs-json) so routes of
 * new modules join without being named here: each string in a JSON body (value and key of free-form
 * objects) given a lone surrogate (`"\ud800"`, sent as the raw JSON escape) and U+0000; each
 * query-string value and non-uuid path value given U+0000 (`%00`); each date-time given year 0000, an offset of +23:00 and
 * an instant past year 9999 in UTC; each `cursor` given forged, well-formed cursors (base64url
 * JSON with a bigint overflow, year 0000, wrong types). Sent as a tenant owner and as a platform
 * admin (with X-Tenant-ID) of a real tenant: every answer must be a 4xx, never a 5xx nor a success.
 * Deterministic: no random input, the requests are the same on every run.
 */

const BAD = 'MATRIX\u2063BAD';
/** Raw JSON escapes, written into the body text (JSON.stringify would escape the backslash). */
const BAD_STRINGS: Record<string, string> = {
  'lone surrogate': '"\\ud800"',
  'U+0000': '"\\u0000"',
};
const BAD_INSTANTS: Record<string, string> = {
  'year 0000': '0000-01-01T00:00:00Z',
  'offset +23:00': '2026-01-01T00:00:00+23:00',
  'year 10000 in UTC': '9999-12-31T23:59:59-15:00',
};
const UUID = '00000000-0000-4000-8000-000000000000';
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const FORGED_CURSORS: Record<string, string> = {
  'year 0000': b64(['0000-01-01T00:00:00Z', UUID]),
  'year 0000 with a sequence': b64(['0000-01-01T00:00:00Z', '1']),
  'offset +23:00': b64(['2026-01-01T00:00:00+23:00', UUID]),
  'bigint overflow': b64(['2026-01-01T00:00:00Z', '9999999999999999999']),
  'bigint overflow alone': b64(['9999999999999999999']),
  'number overflow': Buffer.from('[99999999999999999999,1e400]').toString('base64url'),
  'wrong types': b64([{ at: 1 }, [true]]),
  'bare year 0000': b64('0000-01-01T00:00:00Z'),
};
/** Statuses that mean the route refused the input (or the caller): anything else fails. */
const isRefusal = (status: number) => status >= 400 && status < 500;

/* eslint-disable @typescript-eslint/no-explicit-any -- the document is read as plain JSON */
type Schema = Record<string, any>;
interface Doc {
  paths: Record<string, Record<string, any>>;
  components?: { schemas?: Record<string, Schema> };
}
/* eslint-enable @typescript-eslint/no-explicit-any */

type Leaf = { path: string[]; kind: 'string' | 'date-time' | 'free' };

interface Case {
  label: string;
  method: string;
  /** The document's path template. */
  path: string;
  /** Path with its parameters filled. */
  url: string;
  body?: string;
}

interface Caller {
  name: string;
  headers: Record<string, string>;
}

describe('bad input is a 4xx on every JSON route of the OpenAPI document', () => {
  let t: TestApp;
  let doc: Doc;
  let admin: Identity;
  let owner: Identity;
  let tenantId: string;

  beforeAll(async () => {
    t = await createTestApp();
    admin = await platformAdmin(t);
    tenantId = (await createTenant(t, admin)).id;
    owner = await tenantMember(t, tenantId, 'tenant_owner');
    doc = (await (await fetch(`${t.url}/docs-json`)).json()) as Doc;
  }, 120_000);
  afterAll(() => t?.close());

  const resolve = (schema: Schema | undefined): Schema => {
    let s = schema ?? {};
    for (let i = 0; i < 10 && typeof s.$ref === 'string'; i++) {
      s = doc.components?.schemas?.[String(s.$ref).split('/').pop()!] ?? {};
    }
    if (Array.isArray(s.allOf)) {
      return s.allOf.map(resolve).reduce(
        (all: Schema, part: Schema) => ({
          ...all,
          ...part,
          properties: { ...all.properties, ...part.properties },
          required: [...(all.required ?? []), ...(part.required ?? [])],
        }),
        {},
      );
    }
    for (const key of ['anyOf', 'oneOf']) {
      const options = (s[key] as Schema[] | undefined)?.map(resolve);
      // `anyOf: [{required: …}]` (alternative required fields) keeps the object's own shape.
      const typed = options?.find((o) => o.type !== undefined && o.type !== 'null');
      if (typed && s.properties === undefined) return typed;
    }
    return s;
  };

  const isFree = (s: Schema) =>
    (s.type === 'object' || s.type === undefined) &&
    s.properties === undefined &&
    s.items === undefined &&
    s.enum === undefined;

  /** Where bad strings and instants go: every string, date-time and free-form value. */
  const leavesOf = (schema: Schema | undefined, path: string[] = [], depth = 0): Leaf[] => {
    const s = resolve(schema);
    if (depth > 5) return [];
    if (s.type === 'string' && s.enum === undefined) {
      return [{ path, kind: s.format === 'date-time' ? 'date-time' : 'string' }];
    }
    if (s.type === 'array') return leavesOf(s.items, [...path, '0'], depth + 1);
    if (s.properties) {
      return Object.entries(s.properties as Record<string, Schema>).flatMap(([key, child]) =>
        leavesOf(child, [...path, key], depth + 1),
      );
    }
    return isFree(s) && path.length > 0 ? [{ path, kind: 'free' }] : [];
  };

  /** A value the schema accepts, as far as a generic generator can tell (required fields only). */
  const sample = (schema: Schema | undefined, name = ''): unknown => {
    const s = resolve(schema);
    if (s.enum) return s.enum[0];
    if (s.default !== undefined) return s.default;
    switch (s.type) {
      case 'string': {
        if (s.format === 'uuid') return tenantId;
        if (s.format === 'email') return 'matrix@test.tessera.dev';
        if (s.format === 'date-time') return new Date().toISOString();
        if (s.format === 'uri' || /url/.test(name)) return 'https://example.com/hook';
        const candidates = ['default', 'matrix.event', 'matrix', 'Passw0rd!tessera', 'a1'];
        const fits = (v: string) =>
          (!s.pattern || new RegExp(s.pattern as string).test(v)) &&
          v.length >= (s.minLength ?? 0) &&
          v.length <= (s.maxLength ?? Infinity);
        return candidates.find(fits) ?? 'x'.repeat(Math.max(1, s.minLength ?? 1));
      }
      case 'integer':
      case 'number':
        return Math.min(Math.max(s.minimum ?? 1, 1), s.maximum ?? Infinity);
      case 'boolean':
        return false;
      case 'array':
        return Array.from({ length: Math.max(1, s.minItems ?? 1) }, () => sample(s.items, name));
      default: {
        if (!s.properties) return isFree(s) && s.type === 'object' ? {} : 'matrix';
        const required = new Set<string>([
          ...((s.required as string[] | undefined) ?? []),
          ...(((s.anyOf as Schema[] | undefined)?.[0]?.required as string[] | undefined) ?? []),
        ]);
        return Object.fromEntries(
          [...required]
            .filter((key) => s.properties[key] !== undefined)
            .map((key) => [key, sample(s.properties[key], key)]),
        );
      }
    }
  };

  const setAt = (root: unknown, path: string[], value: unknown): unknown => {
    if (path.length === 0) return value;
    const [head, ...rest] = path;
    const container = (
      root && typeof root === 'object' ? root : /^\d+$/.test(head) ? [] : {}
    ) as Record<string, unknown>;
    container[head] = setAt(container[head], rest, value);
    return container;
  };

  /** The path with real ids (the owner, the tenant, its default queue), `bad` in place of one. */
  const fillPath = (path: string, bad?: { name: string; encoded: string }): string =>
    path.replace(/\{(\w+)\}/g, (_m, name: string) => {
      if (name === bad?.name) return bad.encoded;
      if (name === 'user_id') return encodeURIComponent(owner.userId);
      if (name === 'queue_name') return 'default';
      if (name === 'file') return 'app.js';
      return path.includes('tenant') && name === 'id' ? tenantId : UUID;
    });

  /** Every bad request of one operation. */
  const casesOf = (path: string, method: string, operation: Record<string, unknown>): Case[] => {
    const url = fillPath(path);
    const cases: Array<Omit<Case, 'path'>> = [];
    const content = (operation.requestBody as Schema | undefined)?.content as Schema | undefined;
    const bodySchema = content?.['application/json']?.schema as Schema | undefined;
    if (bodySchema) {
      const base = sample(bodySchema);
      for (const leaf of leavesOf(bodySchema)) {
        const at = leaf.path.join('.');
        const with_ = (value: unknown) =>
          JSON.stringify(setAt(structuredClone(base), leaf.path, value));
        if (leaf.kind === 'date-time') {
          for (const [label, value] of Object.entries(BAD_INSTANTS)) {
            cases.push({ label: `body ${at}: ${label}`, method, url, body: with_(value) });
          }
          continue;
        }
        for (const [label, raw] of Object.entries(BAD_STRINGS)) {
          const body = with_(BAD).replace(`"${BAD}"`, raw);
          cases.push({ label: `body ${at}: ${label}`, method, url, body });
          if (leaf.kind === 'free') {
            const keyed = with_({ [BAD]: 'v', k: BAD }).replace(`"${BAD}"`, raw);
            cases.push({ label: `body ${at} key: ${label}`, method, url, body: keyed });
          }
        }
      }
    }
    const query = ((operation.parameters as Schema[] | undefined) ?? [])
      .map(resolve)
      .filter((p) => p.in === 'query');
    const required = query.filter((p) => p.required);
    const queryString = (name: string, encoded: string) =>
      [
        ...required
          .filter((p) => p.name !== name)
          .map((p) => `${p.name}=${encodeURIComponent(String(sample(p.schema, p.name)))}`),
        `${name}=${encoded}`,
      ].join('&');
    for (const param of query) {
      const schema = resolve(param.schema as Schema);
      const name = String(param.name);
      const values: Record<string, string> = {};
      if (name === 'cursor') Object.assign(values, FORGED_CURSORS);
      else if (schema.format === 'date-time') Object.assign(values, BAD_INSTANTS);
      else if (schema.type === 'string' || schema.type === undefined) values['U+0000'] = '\u0000';
      for (const [label, value] of Object.entries(values)) {
        cases.push({
          label: `query ${name}: ${label}`,
          method,
          url: `${url}?${queryString(name, encodeURIComponent(value))}`,
        });
      }
    }
    const pathParams = ((operation.parameters as Schema[] | undefined) ?? [])
      .map(resolve)
      .filter((p) => p.in === 'path' && resolve(p.schema as Schema).format !== 'uuid');
    for (const param of pathParams) {
      const name = String(param.name);
      cases.push({
        label: `path ${name}: U+0000`,
        method,
        url: fillPath(path, { name, encoded: '%00' }),
      });
    }
    return cases.map((c) => ({ ...c, path }));
  };

  it('answers every generated request with a 4xx (counts printed per status)', async () => {
    const callers: Caller[] = [
      { name: 'owner', headers: { authorization: owner.bearer } },
      { name: 'admin', headers: { authorization: admin.bearer, 'x-tenant-id': tenantId } },
    ];
    // Operations that end the caller's own session run last, so they cannot cut the others short.
    const endsSession = (path: string) => /\/auth\/(logout|sessions)/.test(path);
    const operations = Object.entries(doc.paths)
      .flatMap(([path, item]) =>
        Object.entries(item)
          .filter(([method]) => ['get', 'post', 'put', 'patch', 'delete'].includes(method))
          .map(([method, operation]) => ({ path, method, operation: operation as Schema })),
      )
      .sort((a, b) => Number(endsSession(a.path)) - Number(endsSession(b.path)));

    const cases = operations.flatMap((op) =>
      casesOf(op.path, op.method.toUpperCase(), op.operation),
    );
    const routes = new Set(cases.map((c) => `${c.method} ${fillPath(c.path)}`));
    const cursorCases = cases.filter((c) => c.label.startsWith('query cursor')).length;
    const byStatus = new Map<number, number>();
    const failures: string[] = [];
    const started = performance.now();
    for (const caller of callers) {
      // A few at a time: bounded, and every request is the same on each run.
      for (let i = 0; i < cases.length; i += 4) {
        await Promise.all(
          cases.slice(i, i + 4).map(async (c) => {
            const res = await fetch(`${t.url}${c.url}`, {
              method: c.method,
              headers: {
                ...caller.headers,
                ...(c.body === undefined ? {} : { 'content-type': 'application/json' }),
              },
              body: c.body,
            });
            const text = await res.text();
            byStatus.set(res.status, (byStatus.get(res.status) ?? 0) + 1);
            if (!isRefusal(res.status)) {
              failures.push(
                `${caller.name} ${c.method} ${c.path} ${c.label} → ${res.status} ${text.slice(0, 160)}`,
              );
            }
          }),
        );
      }
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `bad-input matrix: ${cases.length * callers.length} requests over ${routes.size} routes ` +
        `(${cursorCases * callers.length} with forged cursors) ` +
        `(${operations.length} operations in the document), ${seconds.toFixed(1)} s; by status: ` +
        [...byStatus.entries()]
          .sort(([a], [b]) => a - b)
          .map(([status, count]) => `${status}×${count}`)
          .join(', ') +
        (failures.length ? `\nnot refused:\n  ${failures.join('\n  ')}` : ''),
    );
    expect(routes.size).toBeGreaterThan(20);
    // The generator reached date-time fields of bodies and query strings, and cursors.
    for (const kind of [
      /^body .*: year 0000$/,
      /^query .*: year 0000$/,
      /^query cursor: /,
      /^path /,
    ]) {
      expect(cases.some((c) => kind.test(c.label))).toBe(true);
    }
    expect(failures).toEqual([]);
  }, 180_000);

  it("keeps an event's timestamp inside the operator's window around now, normalised to UTC", async () => {
    const post = (timestamp: string) =>
      fetch(`${t.url}/api/v1/events`, {
        method: 'POST',
        headers: { authorization: owner.bearer, 'content-type': 'application/json' },
        body: JSON.stringify({ event_type: 'matrix.window', timestamp }),
      });
    const hour = 3_600_000;
    const ahead = await post(new Date(Date.now() + hour).toISOString());
    const ancient = await post('1990-01-01T00:00:00Z');
    const answers = {
      ahead: await ahead.json(),
      ancient: (await ancient.json()) as { details: Array<{ message: string }> },
    };
    expect([ahead.status, ancient.status]).toEqual([400, 400]);
    expect(answers.ahead).toMatchObject({
      code: 'COMMON.VALIDATION',
      details: [{ field: 'timestamp', message: expect.stringContaining('in the future') }],
    });
    expect(answers.ancient.details[0].message).toContain('in the past');

    // An hour ago, written as UTC+02:00 wall time with microseconds.
    const wall = new Date(Date.now() - hour + 2 * hour).toISOString().slice(0, 19);
    const offset = `${wall}.123456+02:00`;
    const accepted = await post(offset);
    expect(accepted.status).toBe(201);
    const stored = (await accepted.json()) as { timestamp: string };
    console.log(
      `event window: +1 h → ${ahead.status}, 1990 → ${ancient.status}; ${offset} stored as ${stored.timestamp}`,
    );
    expect(Date.parse(stored.timestamp)).toBe(Date.parse(offset));
  });
});
