/** A fetch as the client's layers see it: one Request in, one Response out. */
export type Send = (request: Request) => Promise<Response>;

export interface RetryOptions {
  /** Attempts in all, the first one included (default 3; 1 turns retries off). */
  attempts?: number;
  /**
   * The wait before a retry when the answer names none (a 503 without `Retry-After`, a network
   * error): `baseDelayMs × 2^(retry − 1)` at most, with full jitter (default 250 ms).
   */
  baseDelayMs?: number;
  /**
   * The longest wait (default 30 000 ms). An answer whose `Retry-After` asks for longer is
   * returned to the caller instead of being waited for.
   */
  maxDelayMs?: number;
  /** How to wait (default: a timer that the request's abort signal cuts short). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** The jitter's source, in [0, 1) (default Math.random). */
  random?: () => number;
}

const DEFAULTS = { attempts: 3, baseDelayMs: 250, maxDelayMs: 30_000 };
/** Methods a server may see twice without a second effect. */
const REPLAYABLE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/**
 * Retries what the server asked to be retried: a 429 (refused before any work, or — for a
 * message publish — stored under its Idempotency-Key) always; a 503 or a network error only when
 * sending the request twice cannot do the work twice (GET, PUT, DELETE …, or a POST carrying an
 * `Idempotency-Key`). `Retry-After` (seconds or an HTTP date) is the least wait; jitter adds up
 * to a fifth of it (at most a second) so clients told the same do not return at the same instant.
 */
export function retrying(options: RetryOptions | false | undefined, next: Send): Send {
  if (options === false) return next;
  const attempts = Math.max(1, Math.floor(options?.attempts ?? DEFAULTS.attempts));
  const baseDelayMs = options?.baseDelayMs ?? DEFAULTS.baseDelayMs;
  const maxDelayMs = options?.maxDelayMs ?? DEFAULTS.maxDelayMs;
  const sleep = options?.sleep ?? abortableSleep;
  const random = options?.random ?? Math.random;
  const backoff = (retry: number) =>
    random() * Math.min(maxDelayMs, baseDelayMs * 2 ** (retry - 1));

  return async (request) => {
    const replayable =
      REPLAYABLE_METHODS.has(request.method) || request.headers.has('idempotency-key');
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= attempts;
      // Every attempt but the last sends a copy: the original's body stays unread for the next.
      const sent = last ? request : request.clone();
      let response: Response;
      try {
        response = await next(sent);
      } catch (error) {
        if (last || !replayable || request.signal.aborted) throw error;
        await sleep(backoff(attempt), request.signal);
        continue;
      }
      if (last) return response;
      if (response.status !== 429 && !(response.status === 503 && replayable)) return response;
      const told = retryAfterMs(response.headers.get('retry-after'));
      let delay: number;
      if (told === undefined) delay = backoff(attempt);
      else if (told > maxDelayMs) return response;
      else delay = told + random() * Math.min(1000, told / 5);
      await response.body?.cancel();
      await sleep(delay, request.signal);
    }
  };
}

/** `Retry-After` in milliseconds: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
