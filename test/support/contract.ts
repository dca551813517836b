import Ajv, { type ValidateFunction } from 'ajv';

/* eslint-disable @typescript-eslint/no-explicit-any -- the documents are read as plain JSON */
type Json = Record<string, any>;

const METHODS = ['get', 'put', 'post', 'delete', 'patch'];
/** `events.create`, `auth.listSessions`: a namespace, then the method. */
export const OPERATION_ID = /^[a-z]+(\.[a-zA-Z]+)+$/;

/**
 * What a client generator needs of the OpenAPI document, per operation, as a list of problems
 * (empty: none): a named, unique operationId; a schema for every answer with a body; an example
 * request body (where there is a body) and an example answer, each valid against its schema;
 * Retry-After declared on every 429 and 503 of the error envelope.
 */
export function openApiProblems(doc: Json): string[] {
  const problems: string[] = [];
  const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true });
  const check = (where: string, schema: unknown, example: unknown) => {
    let validate: ValidateFunction;
    try {
      validate = ajv.compile(forAjv({ ...(schema as object), components: doc.components }));
    } catch (error) {
      problems.push(`${where}: schema does not compile (${String(error)})`);
      return;
    }
    if (!validate(example))
      problems.push(
        `${where}: example does not match its schema: ${ajv.errorsText(validate.errors)}`,
      );
  };
  const seen = new Map<string, string>();
  for (const [path, item] of Object.entries<Json>(doc.paths)) {
    for (const method of METHODS) {
      const operation = item[method] as Json | undefined;
      if (!operation) continue;
      const name = `${method.toUpperCase()} ${path}`;
      const id = operation.operationId as string | undefined;
      if (!id || !OPERATION_ID.test(id))
        problems.push(`${name}: operationId ${id} is not a method name`);
      else if (seen.has(id)) problems.push(`${name}: operationId ${id} also names ${seen.get(id)}`);
      else seen.set(id, name);

      const body = operation.requestBody as Json | undefined;
      if (body) {
        const media = Object.entries<Json>(body.content ?? {});
        if (!media.some(([, m]) => m.example !== undefined))
          problems.push(`${name}: no example request body`);
        for (const [type, m] of media)
          if (m.example !== undefined) check(`${name} request ${type}`, m.schema, m.example);
      }

      let exampleAnswers = 0;
      for (const [status, response] of Object.entries<Json>(operation.responses ?? {})) {
        const media = Object.entries<Json>(response.content ?? {});
        if (status !== '204' && !media.some(([, m]) => m.schema))
          problems.push(`${name} ${status}: no response schema`);
        for (const [type, m] of media) {
          if (m.example === undefined) continue;
          if (/^2/.test(status)) exampleAnswers++;
          check(`${name} ${status} ${type}`, m.schema, m.example);
        }
        const envelope = media.some(([, m]) => m.schema?.$ref === '#/components/schemas/ErrorBody');
        if (
          (status === '429' || status === '503') &&
          envelope &&
          !response.headers?.['Retry-After']
        )
          problems.push(`${name} ${status}: no Retry-After`);
      }
      const bodiless = Object.keys(operation.responses ?? {}).every(
        (status) => !/^2/.test(status) || status === '204',
      );
      if (exampleAnswers === 0 && !bodiless) problems.push(`${name}: no example answer`);
    }
  }
  return problems;
}

/**
 * OpenAPI 3.0's `nullable` beside no `type` (zod's nullable `unknown`, or a nullable `anyOf`),
 * which Ajv refuses, as the `anyOf` with null it means.
 */
function forAjv(node: unknown): any {
  if (Array.isArray(node)) return node.map(forAjv);
  if (!node || typeof node !== 'object') return node;
  const copy: Json = {};
  for (const [key, value] of Object.entries(node))
    copy[key] = key === 'example' || key === 'enum' || key === 'default' ? value : forAjv(value);
  if (copy.nullable === true && copy.type === undefined) {
    delete copy.nullable;
    return { anyOf: [copy, { type: 'null' }] };
  }
  return copy;
}

/**
 * Validates WebSocket messages against the AsyncAPI document's message schemas, chosen by the
 * message's `type` (`hello`, `event` …): returns the problems (empty: the message conforms).
 */
export class AsyncApiMessages {
  private readonly byType = new Map<string, ValidateFunction>();

  constructor(asyncapi: Json) {
    const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true });
    const at = (ref: string): Json =>
      ref
        .replace(/^#\//, '')
        .split('/')
        .reduce((node: Json, key) => node?.[key] as Json, asyncapi);
    for (const operation of Object.values<Json>(asyncapi.operations ?? {})) {
      for (const { $ref } of operation.messages as Array<{ $ref: string }>) {
        let message = at($ref);
        if (message.$ref) message = at(message.$ref as string);
        const kind = message.payload.properties.type;
        const type = (kind.const ?? kind.enum?.[0]) as string;
        this.byType.set(`${operation.action}:${type}`, ajv.compile(message.payload));
      }
    }
  }

  /** The kinds described, as `send:hello`, `receive:subscribe` …. */
  get kinds(): string[] {
    return [...this.byType.keys()].sort();
  }

  /** Problems of one message the server sent (`send`) or a client may send (`receive`). */
  problems(message: unknown, direction: 'send' | 'receive' = 'send'): string[] {
    const type = (message as { type?: unknown } | null)?.type;
    const validate = this.byType.get(`${direction}:${String(type)}`);
    if (!validate) return [`no ${direction} message of type ${JSON.stringify(type)}`];
    return validate(message)
      ? []
      : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);
  }

  /** Throws (with what arrived) unless every message conforms. */
  expectValid(...messages: unknown[]): void {
    for (const message of messages) {
      const problems = this.problems(message, 'send');
      if (problems.length > 0)
        throw new Error(
          `${JSON.stringify(message)} does not match the AsyncAPI document: ${problems.join('; ')}`,
        );
    }
  }
}
/* eslint-enable @typescript-eslint/no-explicit-any */
