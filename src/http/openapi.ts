import { type INestApplication, ParseUUIDPipe } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA, ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import { MetadataScanner, ModulesContainer } from '@nestjs/core';
import { DECORATORS, DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import type {
  OperationObject,
  ParameterObject,
  ResponseObject,
  SchemaObject,
} from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { cleanupOpenApiDoc } from 'nestjs-zod';
import { type Access, IS_PUBLIC, REQUIRED_ACCESS } from '../shared/auth';
import { addExamples } from './openapi-examples';

/**
 * The OpenAPI document, made true once for every route instead of field by field:
 *
 * 1. zod 4 writes a nullable bare type as `type: ["string", "null"]`, which nestjs-zod 5 passes
 *    on and @nestjs/swagger 11 reads as `type: array` (top-level fields) or leaves as an array
 *    inside a 3.0 document (nested ones). Every zod DTO the routes use gets its metadata
 *    rewritten to the 3.0 form (`type: "string", nullable: true`) before Swagger reads it, and a
 *    last pass over the document catches any the routes do not reach directly.
 * 2. What the shared guard, pipes and error filter answer is added to every operation they
 *    guard: the error envelope on each 4xx/5xx; 400/401/403/404/503 on authenticated routes
 *    (credentials, `X-Tenant-ID`), 400 on routes with input, 404 on routes with path ids;
 *    `format: uuid` on path ids a ParseUUIDPipe checks; the `X-Tenant-ID` header; the `api_key`
 *    scheme where an API key can call (no role required, not a session-only route).
 * Per-route answers (409, 429 …) and response bodies stay with the route's own decorators.
 */
export function createOpenApiDocument(app: INestApplication): OpenAPIObject {
  const routes = describeRoutes(app);
  for (const route of routes.values()) for (const dto of route.models) rewriteZodDtoMetadata(dto);

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Tessera')
      .setDescription('Multi-tenant tenancy, auth, location, messaging and events behind one API')
      .setVersion('1')
      .addBearerAuth()
      .addApiKey({ type: 'apiKey', in: 'header', name: 'X-API-Key' }, 'api_key')
      .build(),
    { operationIdFactory: operationId },
  );
  return completeDocument(cleanupOpenApiDoc(document), routes);
}

/**
 * Operation ids read as client methods, `<namespace>.<verb>` (`events.create`,
 * `auth.listSessions`): the namespace of each controller, and the method's own name unless it
 * reads badly out of its class (`list` of the sessions, `batch` of the events). A route of a new
 * controller gets `<controller>.<method>`; the contract test checks the pattern and uniqueness.
 * `@ApiOperation({ operationId })` on a handler still wins.
 */
const OPERATION_NAMES: Record<string, { namespace: string; methods?: Record<string, string> }> = {
  ContextController: { namespace: 'context' },
  MetricsController: { namespace: 'metrics', methods: { index: 'scrape' } },
  // One handler, two paths (`/health/ready` and its alias `/health`).
  HealthController: { namespace: 'health', methods: { 'ready[0]': 'ready', 'ready[1]': 'check' } },
  EventsController: { namespace: 'events', methods: { batch: 'createBatch' } },
  EventLimitsController: {
    namespace: 'events',
    methods: { get: 'getRateLimit', set: 'setRateLimit', clear: 'clearRateLimit' },
  },
  TenantsController: {
    namespace: 'tenants',
    methods: { remove: 'delete', createKey: 'createApiKey', revokeKey: 'revokeApiKey' },
  },
  CurrentTenantController: { namespace: 'tenant' },
  TenantAuditController: { namespace: 'tenant', methods: { list: 'listAudit' } },
  TenancyHealthController: {
    namespace: 'health',
    methods: { tenantsHealth: 'tenants', tenantHealth: 'tenant', clear: 'clearCache' },
  },
  AuthController: { namespace: 'auth', methods: { list: 'listSessions', end: 'endSession' } },
  TenantUsersController: {
    namespace: 'tenants',
    methods: {
      list: 'listUsers',
      add: 'addUser',
      changeRole: 'changeUserRole',
      remove: 'removeUser',
    },
  },
  CurrentTenantUsersController: {
    namespace: 'tenant',
    methods: {
      list: 'listUsers',
      add: 'addUser',
      get: 'getUser',
      changeRole: 'changeUserRole',
      remove: 'removeUser',
    },
  },
  LocationController: {
    namespace: 'location',
    methods: {
      start: 'startSession',
      updatesBatch: 'updateBatch',
      list: 'listSessions',
      get: 'getSession',
      stop: 'stopSession',
      locations: 'listLocations',
    },
  },
  DeliveryController: {
    namespace: 'location',
    methods: { get: 'getDelivery', put: 'setDelivery' },
  },
  RetryController: { namespace: 'retry', methods: { list: 'listFailed', replay: 'retryFailed' } },
  StreamingController: { namespace: 'streaming', methods: { get: 'health' } },
  MessagingController: {
    namespace: 'messaging',
    methods: { queueStatus: 'getQueueStatus', allStatus: 'listQueueStatus' },
  },
  DashboardController: { namespace: 'dashboard', methods: { file: 'asset' } },
};

/** The operationIdFactory: `Controller` + `method` (`method[i]` for a path alias) → its id. */
export function operationId(controllerKey: string, methodKey: string): string {
  const names = OPERATION_NAMES[controllerKey];
  const namespace =
    names?.namespace ??
    controllerKey
      .replace(/Controller$/, '')
      .replace(/[^A-Za-z]/g, '')
      .toLowerCase();
  return `${namespace}.${names?.methods?.[methodKey] ?? methodKey}`;
}

/** Marks a route that only a user session can call (an API key is refused with 403). */
export const SESSION_ONLY = 'x-session-only';

/**
 * Says why input the schemas allow can still be refused with 400 (a rule no schema can state:
 * an opaque cursor, a reference to something that must exist …). Lists get it for their
 * `cursor`; a route adds its own with `@ApiExtension(REFUSES_VALID_INPUT, 'why')`. The contract
 * test accepts a 400 for schema-valid input only on these operations.
 */
export const REFUSES_VALID_INPUT = 'x-refuses-valid-input';

/** The error envelope of API.md, answered by the one ErrorFilter. */
export const ERROR_BODY_SCHEMA: SchemaObject = {
  type: 'object',
  required: ['statusCode', 'error', 'message'],
  properties: {
    statusCode: { type: 'integer', minimum: 400, maximum: 599 },
    error: { type: 'string' },
    message: { type: 'string' },
    code: { type: 'string', description: 'MODULE.REASON' },
    details: { type: 'array', items: {} },
    request_id: { type: 'string' },
  },
  example: {
    statusCode: 404,
    error: 'Not Found',
    message: 'No such tenant',
    code: 'TENANCY.TENANT_NOT_FOUND',
    request_id: '5b0e7c2d-1f3a-4b6c-9d8e-7f6a5b4c3d2e',
  },
};

const TENANT_HEADER: ParameterObject = {
  name: 'X-Tenant-ID',
  in: 'header',
  required: false,
  description:
    'The tenant of this request: any tenant for a platform admin, one of the memberships for a user; ' +
    'with an API key it must be the key’s own tenant',
  // Empty counts as absent (the guard reads a blank header as none); otherwise a uuid of any version.
  schema: {
    type: 'string',
    pattern: '^$|^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$',
  },
};

/** What the shared guard, pipes and filter can answer, and why. */
const GENERIC_ANSWERS: Record<string, string> = {
  '400':
    'Invalid input (COMMON.VALIDATION with details; U+0000 or a lone UTF-16 surrogate in any string or key of a body, query or path is refused everywhere), or an X-Tenant-ID that is not a uuid',
  '401': 'Missing, invalid or expired credentials',
  '403':
    'The caller’s role (or credential kind) does not allow this, or X-Tenant-ID names a tenant the caller may not use',
  '404': 'No such resource (or X-Tenant-ID names no tenant)',
  '503': 'A dependency (session store, tenant secret or database) does not answer; retry shortly',
};

interface RouteFacts {
  isPublic: boolean;
  access?: Access;
  /** Path parameters checked by a ParseUUIDPipe. */
  uuidParams: Set<string>;
  /** Classes the route hands to Swagger (body, query, responses): the zod DTOs among them. */
  models: Set<unknown>;
}

/** Route facts by the operationId the handler gets (its `@ApiOperation`'s, else `operationId`). */
function describeRoutes(app: INestApplication): Map<string, RouteFacts> {
  const routes = new Map<string, RouteFacts>();
  const scanner = new MetadataScanner();
  for (const module of app.get(ModulesContainer).values()) {
    for (const wrapper of module.controllers.values()) {
      const controller = wrapper.metatype as (new (...args: never[]) => object) | null;
      if (!controller || typeof controller !== 'function') continue;
      const prototype = controller.prototype as Record<string, unknown>;
      for (const name of scanner.getAllMethodNames(prototype)) {
        const handler = prototype[name] as object;
        if (Reflect.getMetadata(METHOD_METADATA, handler) === undefined) continue;
        if (Reflect.getMetadata(PATH_METADATA, handler) === undefined) continue;
        const targets = [handler, controller];
        const facts: RouteFacts = {
          isPublic: targets.some((t) => Reflect.getMetadata(IS_PUBLIC, t) === true),
          access: (Reflect.getMetadata(REQUIRED_ACCESS, handler) ??
            Reflect.getMetadata(REQUIRED_ACCESS, controller)) as Access | undefined,
          uuidParams: uuidParamsOf(controller, name),
          models: modelsOf(prototype, name, handler, controller),
        };
        const explicit = (
          Reflect.getMetadata(DECORATORS.API_OPERATION, handler) as
            { operationId?: string } | undefined
        )?.operationId;
        routes.set(explicit ?? operationId(controller.name, name), facts);
      }
    }
  }
  return routes;
}

function uuidParamsOf(controller: object, method: string): Set<string> {
  const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, controller.constructor, method) ??
    Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, method) ??
    {}) as Record<string, { data?: unknown; pipes?: unknown[] }>;
  const names = new Set<string>();
  for (const [key, arg] of Object.entries(args)) {
    if (Number(key.split(':')[0]) !== Number(RouteParamtypes.PARAM)) continue;
    const uuid = (arg.pipes ?? []).some(
      (pipe) => pipe === ParseUUIDPipe || pipe instanceof ParseUUIDPipe,
    );
    if (uuid && typeof arg.data === 'string') names.add(arg.data);
  }
  return names;
}

function modelsOf(
  prototype: object,
  method: string,
  handler: object,
  controller: object,
): Set<unknown> {
  const models = new Set<unknown>(
    (Reflect.getMetadata('design:paramtypes', prototype, method) ?? []) as unknown[],
  );
  const responses = (Reflect.getMetadata(DECORATORS.API_RESPONSE, handler) ?? {}) as Record<
    string,
    { type?: unknown }
  >;
  for (const response of Object.values(responses)) models.add(response.type);
  const parameters = (Reflect.getMetadata(DECORATORS.API_PARAMETERS, handler) ?? []) as Array<{
    type?: unknown;
  }>;
  for (const parameter of parameters) models.add(parameter.type);
  for (const target of [handler, controller]) {
    for (const extra of (Reflect.getMetadata(DECORATORS.API_EXTRA_MODELS, target) ??
      []) as unknown[])
      models.add(extra);
  }
  return models;
}

// ---------------------------------------------------------------------------------------------
// 1. Nullable types: zod 4 / nestjs-zod 5 metadata in OpenAPI 3.0 form

const FACTORY = '_OPENAPI_METADATA_FACTORY';
const REWRITTEN = Symbol('tessera.openapi.rewritten');
type MetadataFactory = (() => Record<string, Record<string, unknown>>) & {
  [REWRITTEN]?: true;
};

/**
 * Wraps the metadata factory nestjs-zod gives a DTO class (on the class that owns it: Swagger
 * calls every factory up the prototype chain, so wrapping only the subclass would be overwritten).
 */
function rewriteZodDtoMetadata(dto: unknown): void {
  if (typeof dto !== 'function' || !('isZodDto' in dto)) return;
  let owner: object | null = dto;
  while (owner && !Object.prototype.hasOwnProperty.call(owner, FACTORY))
    owner = Object.getPrototypeOf(owner) as object | null;
  if (!owner) return;
  const original = (owner as Record<string, MetadataFactory>)[FACTORY];
  if (typeof original !== 'function' || original[REWRITTEN]) return;
  const rewritten: MetadataFactory = function (this: unknown) {
    const properties = original.call(this);
    for (const property of Object.values(properties)) {
      const hadTypeArray = Array.isArray(property.type);
      toOpenApi30Types(property);
      // nestjs-zod deletes an empty top-level `type` (its marker for "no single type").
      if (hadTypeArray && property.type === undefined) property.type = '';
    }
    return properties;
  };
  rewritten[REWRITTEN] = true;
  Object.defineProperty(owner, FACTORY, { value: rewritten, configurable: true, writable: true });
}

/** Keywords whose values are data, not schemas. */
const DATA_KEYWORDS = new Set(['enum', 'default', 'example', 'examples', 'const', 'required']);

/** `type: [T, "null"]` → `type: T, nullable: true`; `type: [A, B]` → `anyOf`; in place, deep. */
function toOpenApi30Types(node: unknown): void {
  if (Array.isArray(node)) {
    for (const item of node) toOpenApi30Types(item);
    return;
  }
  if (!node || typeof node !== 'object') return;
  const schema = node as Record<string, unknown>;
  if (Array.isArray(schema.type)) {
    const types = (schema.type as unknown[]).filter((t) => t !== 'null');
    const nullable = types.length < (schema.type as unknown[]).length;
    if (types.length === 1) schema.type = types[0];
    else {
      delete schema.type;
      if (types.length > 1) schema.anyOf = types.map((type) => ({ type }));
    }
    if (nullable) schema.nullable = true;
  }
  for (const [key, value] of Object.entries(schema)) {
    if (!DATA_KEYWORDS.has(key)) toOpenApi30Types(value);
  }
}

/**
 * `anyOf: [{required: [a]}, {required: [b]}]` (one of two fields, e.g. `event_type` or `type`)
 * says the same with each alternative typed (`type: object` and every property of the object):
 * generators read a bare `{required}` as `unknown`, which swallows the whole body type, and an
 * alternative that types only its own field lets any other field through unchecked.
 */
function typeRequiredAlternatives(node: unknown): void {
  if (Array.isArray(node)) {
    for (const item of node) typeRequiredAlternatives(item);
    return;
  }
  if (!node || typeof node !== 'object') return;
  const schema = node as SchemaObject;
  const properties = schema.properties ?? {};
  for (const alternative of (schema.anyOf ?? []) as SchemaObject[]) {
    const keys = Object.keys(alternative);
    if (keys.length !== 1 || keys[0] !== 'required' || !alternative.required) continue;
    alternative.type = 'object';
    alternative.properties = { ...properties };
  }
  for (const [key, value] of Object.entries(schema)) {
    if (!DATA_KEYWORDS.has(key)) typeRequiredAlternatives(value);
  }
}

// ---------------------------------------------------------------------------------------------
// 2. What the guard, pipes and filter answer, on every operation

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

function completeDocument(doc: OpenAPIObject, routes: Map<string, RouteFacts>): OpenAPIObject {
  toOpenApi30Types(doc.components?.schemas);
  typeRequiredAlternatives(doc.components?.schemas);
  doc.components = {
    ...doc.components,
    schemas: { ...doc.components?.schemas, ErrorBody: ERROR_BODY_SCHEMA },
  };

  const operations: OperationObject[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const operation = item[method];
      if (!operation) continue;
      const facts = routes.get(operation.operationId ?? '');
      completeOperation(path, operation, facts);
      operations.push(operation);
    }
  }
  addExamples(doc, operations);
  return doc;
}

function completeOperation(
  path: string,
  operation: OperationObject,
  facts: RouteFacts | undefined,
): void {
  const extensions = operation as unknown as Record<string, unknown>;
  const isPublic = facts?.isPublic ?? extensions['x-public'] === true;
  const parameters = (operation.parameters ?? []) as ParameterObject[];
  toOpenApi30Types(parameters);

  // Path ids: every `{name}` of the path is a required path parameter; uuid when a pipe says so.
  for (const name of [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1])) {
    let parameter = parameters.find((p) => p.in === 'path' && p.name === name);
    if (!parameter) {
      parameter = { name, in: 'path', required: true, schema: { type: 'string' } };
      parameters.push(parameter);
    }
    if (facts?.uuidParams.has(name))
      parameter.schema = { ...(parameter.schema as SchemaObject), type: 'string', format: 'uuid' };
  }

  if (parameters.some((p) => p.in === 'query' && p.name === 'cursor')) {
    const reasons = [
      extensions[REFUSES_VALID_INPUT],
      'a cursor this list did not issue (400 COMMON.INVALID_CURSOR)',
    ];
    extensions[REFUSES_VALID_INPUT] = reasons.filter(Boolean).join('; ');
  }

  const answers = new Set<string>();
  const hasInput = parameters.length > 0 || operation.requestBody !== undefined;
  if (hasInput) answers.add('400');
  if (parameters.some((p) => p.in === 'path')) answers.add('404');

  if (!isPublic) {
    for (const status of ['400', '401', '403', '404', '503']) answers.add(status);
    if (!parameters.some((p) => p.in === 'header' && p.name.toLowerCase() === 'x-tenant-id'))
      parameters.push({ ...TENANT_HEADER });
    operation.security = securityOf(facts, extensions[SESSION_ONLY] === true);
  }
  if (parameters.length > 0) operation.parameters = parameters;

  operation.responses ??= {};
  for (const status of answers) {
    operation.responses[status] ??= { description: GENERIC_ANSWERS[status] };
  }
  for (const [status, response] of Object.entries(operation.responses)) {
    if (!/^[45]\d\d$/.test(status)) continue;
    const answer = response as ResponseObject;
    if (!answer.description) answer.description = GENERIC_ANSWERS[status] ?? 'Error';
    answer.content ??= {};
    const json = (answer.content['application/json'] ??= {});
    json.schema ??= { $ref: '#/components/schemas/ErrorBody' };
    // The error filter sends Retry-After with every 429 and 503 of the envelope.
    if ((status === '429' || status === '503') && isErrorBody(json.schema))
      answer.headers = { 'Retry-After': RETRY_AFTER, ...answer.headers };
  }
}

const RETRY_AFTER = {
  description: 'Seconds to wait before trying again',
  required: true,
  schema: { type: 'integer', minimum: 1 },
};

function isErrorBody(schema: unknown): boolean {
  return (schema as { $ref?: string } | undefined)?.$ref === '#/components/schemas/ErrorBody';
}

/** Bearer always; an API key too where a caller without a role may call and no session is needed. */
function securityOf(
  facts: RouteFacts | undefined,
  sessionOnly: boolean,
): Array<Record<string, string[]>> {
  const access = facts?.access;
  const keyAllowed = !sessionOnly && (!access || access.roles === 'any');
  return keyAllowed ? [{ bearer: [] }, { api_key: [] }] : [{ bearer: [] }];
}
