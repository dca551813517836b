import type { OpenAPIObject } from '@nestjs/swagger';
import type {
  OperationObject,
  ReferenceObject,
  RequestBodyObject,
  ResponseObject,
  SchemaObject,
} from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';

/**
 * An example request body and an example answer on every operation, so a reader (and the docs
 * UI) sees a whole exchange: the schema's own `example` where the code gives one (zod
 * `.meta({ example })` on the DTO), else one built from the schema (required fields, the first
 * enum value, the minimum, a sample of the format). Built from the schema, never written beside
 * it: the contract test validates every example against its schema.
 */
export function addExamples(doc: OpenAPIObject, operations: OperationObject[]): void {
  const sampler = new Sampler(doc);
  for (const operation of operations) {
    const body = operation.requestBody as RequestBodyObject | undefined;
    for (const media of Object.values(body?.content ?? {})) {
      if (media.example === undefined && !media.examples && media.schema)
        media.example = sampler.sample(media.schema);
    }
    for (const [status, response] of Object.entries(operation.responses ?? {})) {
      if (!/^2\d\d$/.test(status)) continue;
      for (const [type, media] of Object.entries((response as ResponseObject).content ?? {})) {
        if (media.example !== undefined || media.examples || !media.schema) continue;
        media.example = type.includes('json') ? sampler.sample(media.schema) : TEXT_EXAMPLES[type];
      }
    }
  }
}

/** Answers that are not JSON: a start of each. */
const TEXT_EXAMPLES: Record<string, string> = {
  'text/html': '<!doctype html><html lang="en"><head><title>Tessera</title>…',
  'text/javascript': 'const feed = new EventSource(…);',
  'text/css': 'body { margin: 0; }',
  'text/plain': '# HELP tessera_ws_sockets WebSocket connections open on this instance\n',
};

const FORMATS: Record<string, string> = {
  uuid: '3fa85f64-5717-4562-b3fc-2c963f66afa6',
  'date-time': '2026-12-05T10:00:00.000Z',
  date: '2026-12-05',
  email: 'ada@example.com',
  uri: 'https://hooks.example.com/tessera',
  url: 'https://hooks.example.com/tessera',
};

class Sampler {
  constructor(private readonly doc: OpenAPIObject) {}

  /** `name`: the property's, a hint where the schema has no format (`created_at`, `email`). */
  sample(node: SchemaObject | ReferenceObject, depth = 0, name = ''): unknown {
    const schema = this.resolve(node);
    if (schema.example !== undefined) return schema.example;
    if (schema.default !== undefined) return schema.default;
    if (schema.enum?.length) return schema.enum[0];
    if (depth > 8) return schema.nullable ? null : undefined;
    if (schema.allOf?.length)
      return Object.assign(
        {},
        ...schema.allOf.map((part) => this.sample(part, depth + 1) as object),
      ) as unknown;
    const alternative = (schema.anyOf ?? schema.oneOf)?.[0];
    const type = schema.type ?? (schema.properties ? 'object' : undefined);
    if (!type && alternative) return this.sample(alternative, depth + 1);
    switch (type) {
      case 'object':
        return this.object(schema, alternative && this.resolve(alternative), depth);
      case 'array': {
        if (!schema.items) return [];
        const item = this.sample(schema.items, depth + 1);
        return Array.from({ length: Math.max(1, schema.minItems ?? 1) }, () => item);
      }
      case 'string':
        return this.string(schema, name);
      case 'integer':
      case 'number': {
        // 1 where the range allows it (zod's unbounded ints span ±2^53).
        const min = schema.minimum ?? -Infinity;
        return Math.min(Math.max(1, min), schema.maximum ?? Infinity);
      }
      case 'boolean':
        return true;
      default:
        return schema.nullable ? null : {};
    }
  }

  private object(schema: SchemaObject, alternative: SchemaObject | undefined, depth: number) {
    const properties = schema.properties ?? {};
    const required = new Set([...(schema.required ?? []), ...(alternative?.required ?? [])]);
    // Nothing required (a filter, an optional body): show every field once.
    const names = required.size > 0 ? [...required] : Object.keys(properties);
    const result: Record<string, unknown> = {};
    for (const name of names) {
      if (!properties[name]) continue;
      const value = this.sample(properties[name], depth + 1, name);
      if (value !== undefined) result[name] = value;
    }
    return result;
  }

  private string(schema: SchemaObject, name: string): string {
    const hint = /(_at|^timestamp|^since|^until)$/.test(name)
      ? 'date-time'
      : /(^|_)email$/.test(name)
        ? 'email'
        : /_url$/.test(name)
          ? 'uri'
          : undefined;
    let value = FORMATS[schema.format ?? hint ?? ''] ?? 'example';
    if (schema.minLength && value.length < schema.minLength)
      value = value.padEnd(schema.minLength, 'x');
    if (schema.maxLength !== undefined) value = value.slice(0, schema.maxLength);
    return value;
  }

  private resolve(node: SchemaObject | ReferenceObject): SchemaObject {
    let current = node;
    for (let hops = 0; '$ref' in current && hops < 10; hops++) {
      const name = current.$ref.replace('#/components/schemas/', '');
      current = this.doc.components?.schemas?.[name] ?? {};
    }
    return current as SchemaObject;
  }
}
