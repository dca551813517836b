import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import request from 'supertest';
import { createTesseraClient } from '../../packages/client/src/index.js';
import { everyOperation } from '../../packages/client/test/every-operation.js';
import { IS_PUBLIC } from '../../src/shared/auth';
import { createTestApp, type TestApp } from '../support/app';

type Operation = { method: string; path: string; isPublic: boolean };

/**
 * The first promise, checked mechanically: every route either is explicitly @Public() or
 * refuses a caller without credentials. A new route that forgets both fails here.
 */
describe('every route is guarded or explicitly public', () => {
  let t: TestApp;
  let operations: Operation[];

  beforeAll(async () => {
    t = await createTestApp();
    const doc = (await request(t.url).get('/docs-json')).body as {
      paths: Record<string, Record<string, { 'x-public'?: boolean }>>;
    };
    operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({
        method,
        path,
        isPublic: op['x-public'] === true,
      })),
    );
  });
  afterAll(() => t.close());

  it('documents every controller route in OpenAPI, with its public mark', () => {
    const discovery = t.app.get(DiscoveryService);
    const scanner = t.app.get(MetadataScanner);
    const reflector = t.app.get(Reflector);
    const handlers = discovery.getControllers().flatMap(({ instance, metatype }) => {
      if (!instance || !metatype) return [];
      const prototype = Object.getPrototypeOf(instance) as object;
      return scanner.getAllMethodNames(prototype).flatMap((name) => {
        const handler = (prototype as Record<string, unknown>)[name] as () => unknown;
        const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
        if (method === undefined) return [];
        const paths = ([] as string[]).concat(
          Reflect.getMetadata(PATH_METADATA, handler) as string | string[],
        );
        const isPublic =
          reflector.getAllAndOverride<boolean>(IS_PUBLIC, [handler, metatype]) === true;
        return paths.map(() => ({ method: RequestMethod[method].toLowerCase(), isPublic }));
      });
    });
    expect(handlers.length).toBeGreaterThan(3);
    expect(operations).toHaveLength(handlers.length);
    expect(operations.filter((o) => o.isPublic)).toHaveLength(
      handlers.filter((h) => h.isPublic).length,
    );
  });

  it('answers 401 to a caller without credentials on every route not marked public', async () => {
    const failures: string[] = [];
    for (const op of operations) {
      const path = op.path.replace(/\{[^}]+\}/g, '00000000-0000-4000-8000-000000000000');
      const res = await request(t.url)[op.method as 'get'](path).send({});
      const refused = res.status === 401;
      if (op.isPublic === refused)
        failures.push(`${op.method.toUpperCase()} ${op.path} → ${res.status}`);
    }
    expect(failures).toEqual([]);
  });

  // The typed client (packages/client) against this app's document.

  it('generates the same client types from the served document as the committed schema.d.ts', async () => {
    const root = resolve(__dirname, '../..');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['-r', '@swc-node/register', 'scripts/generate-client-types.ts'].concat([
        '--url',
        `${t.url}/docs-json`,
        '--stdout',
      ]),
      { cwd: root, maxBuffer: 64 * 1024 * 1024 },
    );
    const committed = readFileSync(resolve(root, 'packages/client/src/schema.d.ts'), 'utf8');
    const generated = stdout.split('\n');
    const at = committed.split('\n').findIndex((line, i) => line !== generated[i]);
    const drift =
      stdout === committed
        ? undefined
        : `line ${at + 1}: committed ${JSON.stringify(committed.split('\n')[at])}, served ` +
          `${JSON.stringify(generated[at])} (run npm run client:types)`;
    console.log(
      `client types: ${generated.length} lines from /docs-json, drift: ${drift ?? 'none'}`,
    );
    expect(drift).toBeUndefined();
  });

  it('calls every operation of the document through the typed client, each by its own route', async () => {
    const doc = (await request(t.url).get('/docs-json')).body as {
      paths: Record<string, Record<string, { operationId: string }>>;
    };
    const routes = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({
        id: op.operationId,
        method: method.toUpperCase(),
        params: (path.match(/\{/g) ?? []).length,
        pattern: new RegExp(`^${path.replace(/\{[^}]+\}/g, '[^/]+')}$`),
      })),
    );
    routes.sort((a, b) => a.params - b.params); // a static path wins over a template
    let sent: { method: string; path: string } | undefined;
    const client = createTesseraClient({
      baseUrl: t.url,
      retry: false,
      fetch: (req) => {
        sent = { method: req.method, path: new URL(req.url).pathname };
        return fetch(req);
      },
    });
    const reached: Record<string, string | undefined> = {};
    for (const [id, call] of Object.entries(everyOperation)) {
      sent = undefined;
      await call(client); // openapi-fetch reads the answer's body
      const route = routes.find((r) => r.method === sent?.method && r.pattern.test(sent.path));
      reached[id] = route?.id;
    }
    const ids = routes.map((r) => r.id).sort();
    console.log(
      `typed calls: ${Object.keys(reached).length}, operations in /docs-json: ${ids.length}`,
    );
    expect(Object.keys(reached).sort()).toEqual(ids);
    expect(Object.entries(reached).filter(([id, to]) => id !== to)).toEqual([]);
  });
});
