import fc from 'fast-check';
import { chunkByEvents, splitByRequest } from './ingest-batch';

describe('chunkByEvents', () => {
  it('keeps arrival order, never splits a request and stays under the bound unless one request is over it', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 600 }), { maxLength: 60 }),
        fc.integer({ min: 1, max: 1_000 }),
        (sizes, maxEvents) => {
          const requests = sizes.map((n, id) => ({ id, length: n }));
          const chunks = chunkByEvents(requests, maxEvents);
          expect(chunks.flat().map((r) => r.id)).toEqual(requests.map((r) => r.id));
          for (const chunk of chunks) {
            expect(chunk.length).toBeGreaterThan(0);
            const events = chunk.reduce((n, r) => n + r.length, 0);
            if (chunk.length > 1) expect(events).toBeLessThanOrEqual(maxEvents);
          }
        },
      ),
      { seed: 20_261_204, numRuns: 200 },
    );
  });

  it('gives each request its own results back', () => {
    const requests = [['a'], ['b', 'c', 'd'], [], ['e']];
    expect(splitByRequest(requests, ['A', 'B', 'C', 'D', 'E'])).toEqual([
      ['A'],
      ['B', 'C', 'D'],
      [],
      ['E'],
    ]);
  });
});
