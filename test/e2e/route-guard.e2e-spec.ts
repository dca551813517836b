import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import request from 'supertest';
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
});
