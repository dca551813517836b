import type { components } from './schema.js';
import { retryAfterMs } from './retry.js';

/**
 * The error envelope every 4xx/5xx answers: `statusCode`, `error`, `message`, and when known
 * `code` (`MODULE.REASON`), `details` and `request_id`.
 */
export type TesseraErrorBody = components['schemas']['ErrorBody'];

export function isErrorBody(value: unknown): value is TesseraErrorBody {
  if (!value || typeof value !== 'object') return false;
  const body = value as Record<string, unknown>;
  return (
    typeof body.statusCode === 'number' &&
    typeof body.error === 'string' &&
    typeof body.message === 'string'
  );
}

/** A failed call as an exception (see `unwrap`): the status, the envelope's fields, Retry-After. */
export class TesseraError extends Error {
  override readonly name = 'TesseraError';
  readonly status: number;
  /** `MODULE.REASON`, e.g. `EVENTS.RATE_LIMITED`; undefined when the server named none. */
  readonly code?: string;
  readonly details?: unknown[];
  readonly requestId?: string;
  /** Seconds the server asked to wait (429/503), when it said. */
  readonly retryAfterSeconds?: number;
  /** The envelope as answered; undefined when the body was not one (a proxy's page …). */
  readonly body?: TesseraErrorBody;

  constructor(response: Response, body: unknown) {
    const envelope = isErrorBody(body) ? body : undefined;
    super(envelope?.message ?? (response.statusText || `HTTP ${response.status}`));
    this.status = response.status;
    this.body = envelope;
    this.code = envelope?.code;
    this.details = envelope?.details;
    this.requestId = envelope?.request_id ?? response.headers.get('x-request-id') ?? undefined;
    const wait = retryAfterMs(response.headers.get('retry-after'));
    this.retryAfterSeconds = wait === undefined ? undefined : Math.ceil(wait / 1000);
  }
}

/** What every client call resolves with (openapi-fetch's result). */
interface CallResult {
  data?: unknown;
  error?: unknown;
  response: Response;
}

/**
 * The data of a successful call, or a `TesseraError` thrown for a failed one:
 * `const tenant = await unwrap(client.GET('/api/v1/tenant/info'))`.
 */
export async function unwrap<R extends CallResult>(
  call: Promise<R> | R,
): Promise<Exclude<R['data'], undefined>> {
  const result = await call;
  if (!result.response.ok) throw new TesseraError(result.response, result.error);
  return result.data as Exclude<R['data'], undefined>;
}
