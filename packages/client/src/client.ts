import createClient, { type Client } from 'openapi-fetch';
import { authenticating, type Credentials, type TesseraAuth } from './auth.js';
import { idempotencyKeys } from './idempotency.js';
import { retrying, type RetryOptions, type Send } from './retry.js';
import type { paths } from './schema.js';

export interface TesseraClientOptions {
  /** Where the API is served, without `/api/v1` (the paths carry it): `https://api.example.com`. */
  baseUrl: string;
  /** An API key or a bearer session (refreshed on a 401 when it has a refresh token). */
  auth?: TesseraAuth;
  /**
   * `X-Tenant-ID` on every call that does not set its own: any tenant for a platform admin, one
   * of the user's memberships, or (optional) the key's own tenant with an API key.
   */
  tenantId?: string;
  /** Retries of 429 and 503 answers (honouring Retry-After); `false` turns them off. */
  retry?: RetryOptions | false;
  /** The fetch to send with (default the global one). */
  fetch?: (request: Request) => Promise<Response>;
  /** Headers for every call (a call's own headers win). */
  headers?: Record<string, string>;
}

/** The openapi-fetch client over the generated paths, plus the credentials it sends. */
export type TesseraClient = Client<paths, 'application/json'> & {
  /** Replaces the credentials (sign-in, sign-out: `undefined`); calls in flight keep theirs. */
  setAuth(auth: TesseraAuth | undefined): void;
  /** Replaces the default `X-Tenant-ID` (`undefined`: none). */
  setTenant(tenantId: string | undefined): void;
};

/**
 * A typed client of the Tessera REST API: every path, parameter, body and answer comes from the
 * app's OpenAPI document. Layers, outermost first: an `Idempotency-Key` for POSTs that take one
 * (kept across retries); retries of 429/503 honouring Retry-After; the credentials and tenant
 * header, with a single-flight refresh of a bearer token on 401.
 */
export function createTesseraClient(options: TesseraClientOptions): TesseraClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const credentials: Credentials = { auth: copy(options.auth), tenantId: options.tenantId };
  const send: Send = (request) => (options.fetch ?? globalThis.fetch)(request);
  const transport = retrying(
    options.retry,
    authenticating(credentials, baseUrl, send, retrying(options.retry, send)),
  );
  const client = createClient<paths, 'application/json'>({
    baseUrl,
    fetch: transport,
    headers: options.headers,
  });
  client.use(idempotencyKeys);
  return Object.assign(client, {
    setAuth(auth: TesseraAuth | undefined) {
      credentials.auth = copy(auth);
    },
    setTenant(tenantId: string | undefined) {
      credentials.tenantId = tenantId;
    },
  });
}

/** The client keeps its own copy: a refresh replaces its tokens, never the caller's object. */
function copy(auth: TesseraAuth | undefined): TesseraAuth | undefined {
  return auth ? { ...auth } : undefined;
}
