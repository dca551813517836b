/** `LOCATION_RETRY_BASE_MS` and `LOCATION_RETRY_MAX`: the retry ledger's schedule. */
export interface RetryPolicy {
  baseMs: number;
  maxRetries: number;
}

/** The n-th retry (n from 1) is due `base · 2^(n−1)` after the failure before it. */
export function retryDelayMs(n: number, policy: RetryPolicy): number {
  return policy.baseMs * 2 ** (n - 1);
}

/** When a newly dead-lettered (retryable) update is first retried. */
export function firstRetryAt(failedAt: Date, policy: RetryPolicy): Date {
  return new Date(failedAt.getTime() + retryDelayMs(1, policy));
}

/**
 * What follows a failed retry of a row that had `retryCount` failed retries before it: the next
 * retry's due time, or `null` once `maxRetries` retries have failed (the row is then
 * `permanently_failed`).
 */
export function nextRetryAt(retryCount: number, failedAt: Date, policy: RetryPolicy): Date | null {
  const retries = retryCount + 1;
  if (retries >= policy.maxRetries) return null;
  return new Date(failedAt.getTime() + retryDelayMs(retries + 1, policy));
}
