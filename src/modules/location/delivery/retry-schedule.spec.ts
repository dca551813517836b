import fc from 'fast-check';
import { firstRetryAt, nextRetryAt, type RetryPolicy } from './retry-schedule';

const MINUTE = 60_000;
/** The defaults: LOCATION_RETRY_BASE_MS 60000, LOCATION_RETRY_MAX 8. */
const defaults: RetryPolicy = { baseMs: MINUTE, maxRetries: 8 };

/** A row that fails every retry, from its dead letter until it is permanently_failed. */
function failEveryRetry(policy: RetryPolicy): { delays: number[]; retries: number } {
  const deadLetteredAt = new Date('2026-01-01T00:00:00Z');
  let due = firstRetryAt(deadLetteredAt, policy);
  const delays = [due.getTime() - deadLetteredAt.getTime()];
  let retries = 0;
  for (;;) {
    // The retry due at `due` runs and fails.
    const next = nextRetryAt(retries, due, policy);
    retries += 1;
    if (!next) return { delays, retries };
    delays.push(next.getTime() - due.getTime());
    due = next;
    if (retries > 10_000) throw new Error('the schedule never ends');
  }
}

describe('the retry schedule', () => {
  it('retries after 1, 2, 4 … 128 minutes and gives up after the 8th failed retry', () => {
    const { delays, retries } = failEveryRetry(defaults);
    expect(delays.map((ms) => ms / MINUTE)).toEqual([1, 2, 4, 8, 16, 32, 64, 128]);
    expect(retries).toBe(8);
  });

  it('answers the next due time after the 7th failure and none after the 8th', () => {
    const failedAt = new Date('2026-01-01T00:00:00Z');
    expect(nextRetryAt(0, failedAt, defaults)).toEqual(new Date('2026-01-01T00:02:00Z'));
    expect(nextRetryAt(6, failedAt, defaults)).toEqual(new Date('2026-01-01T02:08:00Z'));
    expect(nextRetryAt(7, failedAt, defaults)).toBeNull();
    expect(nextRetryAt(8, failedAt, defaults)).toBeNull();
  });

  it('makes exactly maxRetries retries, the first after the base delay, each wait twice the last', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3_600_000 }),
        fc.integer({ min: 1, max: 20 }),
        (baseMs, maxRetries) => {
          const { delays, retries } = failEveryRetry({ baseMs, maxRetries });
          expect(retries).toBe(maxRetries);
          expect(delays).toHaveLength(maxRetries);
          expect(delays[0]).toBe(baseMs);
          delays.slice(1).forEach((ms, i) => expect(ms).toBe(2 * delays[i]));
        },
      ),
      { seed: 20261204, numRuns: 200 },
    );
  });
});
