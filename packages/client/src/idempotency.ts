import type { Middleware } from 'openapi-fetch';
import type { paths } from './schema.js';

/** The POST routes whose document declares an `Idempotency-Key` header. */
type KeyedPost = {
  [P in keyof paths]: paths[P] extends { post: { parameters: { header?: infer H } } }
    ? [NonNullable<H>] extends [never]
      ? never // a route without headers (`header?: never`)
      : 'Idempotency-Key' extends keyof NonNullable<H>
        ? P
        : never
    : never;
}[keyof paths];

/**
 * The routes that take an `Idempotency-Key`. Checked against the generated types both ways: a
 * path that takes none does not compile here, and a new route that takes one fails
 * `EVERY_KEYED_POST_LISTED` below until it is listed.
 */
export const IDEMPOTENT_POSTS = [
  '/api/v1/messages',
  '/api/v1/tenants/{id}/messages',
] as const satisfies readonly KeyedPost[];

type Unlisted = Exclude<KeyedPost, (typeof IDEMPOTENT_POSTS)[number]>;
export const EVERY_KEYED_POST_LISTED: [Unlisted] extends [never] ? true : Unlisted = true;

const keyed = new Set<string>(IDEMPOTENT_POSTS);

/**
 * Gives a POST to a route that takes an `Idempotency-Key` one when the caller set none, before
 * any retry: every retry of the call (a 429, a 503, a refreshed token) sends the same key, so
 * the server stores the work once.
 */
export const idempotencyKeys: Middleware = {
  onRequest({ request, schemaPath }) {
    if (request.method !== 'POST' || !keyed.has(schemaPath)) return undefined;
    if (!request.headers.has('idempotency-key'))
      request.headers.set('idempotency-key', randomUuid());
    return undefined;
  },
};

/** A v4 uuid; `crypto.randomUUID` is missing on pages served over plain HTTP. */
export function randomUuid(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
