/**
 * How concurrent ingestions of one tenant share transactions: requests in arrival order, cut into
 * runs of at most `maxEvents` events (a request is never split, so a run holds at least one).
 */
export function chunkByEvents<T extends { length: number }>(
  requests: readonly T[],
  maxEvents: number,
): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let events = 0;
  for (const request of requests) {
    if (current.length && events + request.length > maxEvents) {
      chunks.push(current);
      current = [];
      events = 0;
    }
    current.push(request);
    events += request.length;
  }
  if (current.length) chunks.push(current);
  return chunks;
}

/** `flat` (aligned with the concatenated requests) cut back into one slice per request. */
export function splitByRequest<T>(
  requests: ReadonlyArray<{ length: number }>,
  flat: readonly T[],
): T[][] {
  let at = 0;
  return requests.map((request) => flat.slice(at, (at += request.length)));
}

export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
