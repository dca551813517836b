import fc from 'fast-check';
import { BatcherFullError, BatchSlots, exponentialDelay, NaturalBatcher } from './natural-batcher';

/** A run function whose batches stay open until released, recording what each one held. */
function recorder() {
  const batches: Array<{ group: string; inputs: number[]; release: () => void }> = [];
  let running = 0;
  let maxRunning = 0;
  const run = (group: string, inputs: readonly number[]) =>
    new Promise<Array<number | Error>>((resolve) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      batches.push({
        group,
        inputs: [...inputs],
        release: () => {
          running--;
          resolve(inputs.map((n) => (n < 0 ? new Error(`negative ${n}`) : n * 10)));
        },
      });
    });
  return { batches, run, maxRunning: () => maxRunning };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('NaturalBatcher', () => {
  it('starts a lone input at once, then batches what arrives while the batches run', async () => {
    const r = recorder();
    const batcher = new NaturalBatcher<number, number>({ run: r.run, maxInFlight: 1 });
    const first = batcher.load('a', 1);
    await turn();
    expect(r.batches.map((b) => b.inputs)).toEqual([[1]]);
    const rest = [2, 3, 4].map((n) => batcher.load('a', n));
    await turn();
    expect(r.batches).toHaveLength(1); // the others wait for the running batch
    r.batches[0].release();
    await expect(first).resolves.toBe(10);
    await turn();
    expect(r.batches.map((b) => b.inputs)).toEqual([[1], [2, 3, 4]]);
    r.batches[1].release();
    await expect(Promise.all(rest)).resolves.toEqual([20, 30, 40]);
  });

  it('keeps groups apart and runs at most maxInFlight batches of a group', async () => {
    const r = recorder();
    const batcher = new NaturalBatcher<number, number>({ run: r.run, maxInFlight: 2 });
    const loads = [1, 2, 3].map((n) => batcher.load('a', n));
    const other = batcher.load('b', 9);
    await turn();
    expect(r.batches.map((b) => [b.group, b.inputs])).toEqual([
      ['a', [1, 2, 3]],
      ['b', [9]],
    ]);
    const more = [4, 5].map((n) => batcher.load('a', n));
    await turn();
    const later = batcher.load('a', 6);
    await turn();
    expect(r.batches.map((b) => [b.group, b.inputs])).toEqual([
      ['a', [1, 2, 3]],
      ['b', [9]],
      ['a', [4, 5]],
    ]);
    r.batches[0].release();
    await turn();
    expect(r.batches[3]).toMatchObject({ group: 'a', inputs: [6] });
    r.batches.slice(1).forEach((b) => b.release());
    await expect(Promise.all([...loads, other, ...more, later])).resolves.toEqual([
      10, 20, 30, 90, 40, 50, 60,
    ]);
    expect(r.maxRunning()).toBe(3); // two of 'a' and one of 'b'
  });

  it('rejects only the inputs whose slot is an Error, and all of a batch that throws', async () => {
    const r = recorder();
    const batcher = new NaturalBatcher<number, number>({ run: r.run });
    const results = Promise.allSettled([batcher.load('a', 1), batcher.load('a', -2)]);
    await turn();
    r.batches[0].release();
    const [ok, bad] = await results;
    expect(ok).toEqual({ status: 'fulfilled', value: 10 });
    expect(bad).toMatchObject({ status: 'rejected', reason: { message: 'negative -2' } });

    const throwing = new NaturalBatcher<number, number>({
      run: () => Promise.reject(new Error('down')),
    });
    await expect(Promise.all([throwing.load('a', 1), throwing.load('a', 2)])).rejects.toThrow(
      'down',
    );
  });

  it('splits at maxBatchSize', async () => {
    const r = recorder();
    const batcher = new NaturalBatcher<number, number>({
      run: r.run,
      maxBatchSize: 2,
      maxInFlight: 5,
    });
    const loads = [1, 2, 3, 4, 5].map((n) => batcher.load('a', n));
    await turn();
    expect(r.batches.map((b) => b.inputs)).toEqual([[1, 2], [3, 4], [5]]);
    r.batches.forEach((b) => b.release());
    await expect(Promise.all(loads)).resolves.toEqual([10, 20, 30, 40, 50]);
  });

  it('runs at most the shared slots across groups and batchers; a waiting batch keeps taking inputs', async () => {
    const r = recorder();
    const slots = new BatchSlots(2);
    const one = new NaturalBatcher<number, number>({ run: r.run, slots, maxBatchSize: 3 });
    const two = new NaturalBatcher<number, number>({ run: r.run, slots });
    const loads = [one.load('a', 1), one.load('b', 2), two.load('c', 3)];
    await turn();
    expect(r.batches.map((b) => [b.group, b.inputs])).toEqual([
      ['a', [1]],
      ['b', [2]],
    ]);
    expect(slots.stats).toEqual({ running: 2, waiting: 1 });
    // c's batch waits for a slot and takes what arrives meanwhile, up to maxBatchSize of its batcher.
    loads.push(two.load('c', 4), one.load('a', 5), one.load('a', 6));
    await turn();
    expect(r.batches).toHaveLength(2);
    r.batches[0].release();
    await turn();
    expect(r.batches.map((b) => [b.group, b.inputs]).slice(2)).toEqual([['c', [3, 4]]]);
    r.batches[1].release();
    await turn();
    expect(r.batches.map((b) => [b.group, b.inputs]).slice(3)).toEqual([['a', [5, 6]]]);
    r.batches.slice(2).forEach((b) => b.release());
    await expect(Promise.all(loads)).resolves.toEqual([10, 20, 30, 40, 50, 60]);
    expect(r.maxRunning()).toBe(2);
    expect(slots.stats).toEqual({ running: 0, waiting: 0 });
  });

  it('releases a slot taken by run() whether the work resolves, rejects or throws', async () => {
    const slots = new BatchSlots(1);
    await expect(slots.run(() => Promise.resolve(1))).resolves.toBe(1);
    await expect(slots.run(() => Promise.reject(new Error('no')))).rejects.toThrow('no');
    await expect(
      slots.run(() => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    expect(slots.stats).toEqual({ running: 0, waiting: 0 });
  });

  it('keeps a group within maxInFlight while its batches wait for a shared slot', async () => {
    const r = recorder();
    const slots = new BatchSlots(1);
    const batcher = new NaturalBatcher<number, number>({ run: r.run, slots, maxBatchSize: 2 });
    const loads = [batcher.load('x', 0)];
    await turn();
    // Five inputs of one group: batches of two, one group batch at a time, one slot in all.
    loads.push(...[1, 2, 3, 4, 5].map((n) => batcher.load('a', n)));
    for (let i = 0; i < 4; i++) {
      await turn();
      r.batches.at(-1)!.release();
    }
    await expect(Promise.all(loads)).resolves.toEqual([0, 10, 20, 30, 40, 50]);
    expect(r.batches.map((b) => b.inputs)).toEqual([[0], [1, 2], [3, 4], [5]]);
    expect(r.maxRunning()).toBe(1);
  });

  it("refuses a load beyond a group's bound or the total bound, and takes loads again as batches settle", async () => {
    const r = recorder();
    const batcher = new NaturalBatcher<number, number>({
      run: r.run,
      maxHeldPerGroup: 3,
      maxHeld: 5,
    });
    const a = [1, 2, 3].map((n) => batcher.load('a', n));
    await expect(batcher.load('a', 4)).rejects.toEqual(new BatcherFullError('group'));
    const b = [5, 6].map((n) => batcher.load('b', n));
    await expect(batcher.load('c', 7)).rejects.toMatchObject({ scope: 'total' });
    expect([batcher.held('a'), batcher.held('b'), batcher.held()]).toEqual([3, 2, 5]);
    await turn();
    r.batches.forEach((batch) => batch.release());
    await expect(Promise.all([...a, ...b])).resolves.toEqual([10, 20, 30, 50, 60]);
    expect(batcher.held()).toBe(0);
    const again = batcher.load('a', 8); // taken once the others settled
    await turn();
    r.batches.at(-1)!.release();
    await expect(again).resolves.toBe(80);
  });

  it("runs a failed batch again after the backoff, holding the group's slot, then rejects after the last attempt", async () => {
    let failures = 2;
    const runs: number[][] = [];
    const retries: number[] = [];
    const batcher = new NaturalBatcher<number, number>({
      run: (_group, inputs) => {
        runs.push([...inputs]);
        if (failures-- > 0) return Promise.reject(new Error('down'));
        return Promise.resolve(inputs.map((n) => n * 10));
      },
      retry: { attempts: 3, delayMs: () => 1, onRetry: (_g, _e, attempt) => retries.push(attempt) },
    });
    const first = batcher.load('a', 1);
    await turn();
    const later = batcher.load('a', 2); // waits for the batch in retry, then joins the next one
    await expect(Promise.all([first, later])).resolves.toEqual([10, 20]);
    expect(runs).toEqual([[1], [1], [1], [2]]);
    expect(retries).toEqual([1, 2]);

    failures = 5;
    await expect(batcher.load('a', 3)).rejects.toThrow('down');
    expect(runs.slice(4)).toEqual([[3], [3], [3]]);
    expect(batcher.held()).toBe(0);
  });

  it('does not retry what retryable refuses, and after close runs a waiting batch once more only', async () => {
    let runs = 0;
    const refusing = new NaturalBatcher<number, number>({
      run: () => (runs++, Promise.reject(new Error('refused'))),
      retry: { attempts: 5, delayMs: () => 1, retryable: () => false },
    });
    await expect(refusing.load('a', 1)).rejects.toThrow('refused');
    expect(runs).toBe(1);

    runs = 0;
    const down = new NaturalBatcher<number, number>({
      run: () => (runs++, Promise.reject(new Error('down'))),
      retry: { attempts: 100, delayMs: () => 60_000 },
    });
    const settled = down.load('a', 1).catch((error: Error) => error.message);
    await turn();
    expect(runs).toBe(1); // now waiting a minute for the second run
    down.close();
    await expect(settled).resolves.toBe('down');
    expect(runs).toBe(2);
    await down.idle();
    expect(down.held()).toBe(0);
  });

  it("a group's backlog never queues ahead of another group: its batch waits for one batch to end at most", async () => {
    // One group floods every batcher sharing the slots (as many batchers as slots, so it can take
    // them all); a lone input of another group arrives. Its batch starts when the first running
    // batch ends, while the flooding group still holds most of its backlog.
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 3, max: 10 }),
        async (batchers, maxBatchSize, batchesEach) => {
          const r = recorder();
          const slots = new BatchSlots(batchers);
          const all = Array.from(
            { length: batchers },
            () => new NaturalBatcher<number, number>({ run: r.run, slots, maxBatchSize }),
          );
          const loads: Array<Promise<number>> = [];
          for (const batcher of all)
            for (let n = 0; n < maxBatchSize * batchesEach; n++)
              loads.push(batcher.load('flood', n));
          await turn();
          loads.push(all[0].load('quiet', 7));
          await turn();
          const released = new Set<number>();
          const release = (at: number) => (released.add(at), r.batches[at].release());
          // The oldest running batch ends: the quiet group's batch starts next, right after the
          // batches that held the slots when it arrived.
          release(0);
          await turn();
          await turn();
          expect(r.batches.findIndex((b) => b.group === 'quiet')).toBe(batchers);
          // Most of the flood still waits: all but two batches of each batcher at least.
          const floodHeld = all.reduce((sum, batcher) => sum + batcher.held('flood'), 0);
          expect(floodHeld).toBeGreaterThanOrEqual(batchers * maxBatchSize * (batchesEach - 2));
          // Everything still settles.
          for (let guard = 0; guard < 1_000 && released.size < r.batches.length; guard++) {
            release(r.batches.findIndex((_, at) => !released.has(at)));
            await turn();
            await turn();
          }
          await Promise.all(loads);
          expect(slots.stats).toEqual({ running: 0, waiting: 0 });
        },
      ),
      { seed: 20261205, numRuns: 40 },
    );
  });

  it('lingers for more inputs before a batch starts, and starts at once when the batch is full', async () => {
    const r = recorder();
    const batcher = new NaturalBatcher<number, number>({
      run: r.run,
      maxBatchSize: 4,
      maxInFlight: 2,
      lingerMs: 60_000, // longer than the test: only a full batch can start
    });
    const loads = [1, 2].map((n) => batcher.load('a', n));
    await turn();
    await turn();
    expect(r.batches).toHaveLength(0); // lingering
    loads.push(...[3, 4, 5].map((n) => batcher.load('a', n)));
    await turn();
    // Full at 4: started without waiting out the linger; 5 opened the next batch, which lingers.
    expect(r.batches.map((b) => b.inputs)).toEqual([[1, 2, 3, 4]]);
    loads.push(...[6, 7, 8].map((n) => batcher.load('a', n)));
    await turn();
    expect(r.batches.map((b) => b.inputs)).toEqual([
      [1, 2, 3, 4],
      [5, 6, 7, 8],
    ]);
    r.batches.forEach((b) => b.release());
    await expect(Promise.all(loads)).resolves.toEqual([10, 20, 30, 40, 50, 60, 70, 80]);
  });

  it('a lingering batch starts when its linger ends, with what arrived meanwhile', async () => {
    const r = recorder();
    const batcher = new NaturalBatcher<number, number>({ run: r.run, lingerMs: 20 });
    const first = batcher.load('a', 1);
    await turn();
    const second = batcher.load('a', 2);
    expect(r.batches).toHaveLength(0);
    while (r.batches.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(r.batches.map((b) => b.inputs)).toEqual([[1, 2]]);
    r.batches[0].release();
    await expect(Promise.all([first, second])).resolves.toEqual([10, 20]);
  });

  it('gives each group its own batch size and linger when they are functions', async () => {
    const r = recorder();
    const batcher = new NaturalBatcher<number, number>({
      run: r.run,
      maxInFlight: 10,
      maxBatchSize: (group) => (group === 'big' ? 3 : 1),
      lingerMs: (group) => (group === 'big' ? 60_000 : 0),
    });
    const loads = [1, 2, 3].flatMap((n) => [batcher.load('big', n), batcher.load('one', n)]);
    await turn();
    await turn();
    expect(r.batches.filter((b) => b.group === 'one').map((b) => b.inputs)).toEqual([
      [1],
      [2],
      [3],
    ]);
    expect(r.batches.filter((b) => b.group === 'big').map((b) => b.inputs)).toEqual([[1, 2, 3]]);
    r.batches.forEach((b) => b.release());
    await expect(Promise.all(loads)).resolves.toEqual([10, 10, 20, 20, 30, 30]);
  });

  it('property: with linger, every input settles once, in a batch within its group size, in load order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.nat(3)), {
          minLength: 1,
          maxLength: 40,
        }),
        fc.integer({ min: 1, max: 5 }),
        async (steps, size) => {
          const batches: Array<{ group: string; inputs: number[] }> = [];
          const batcher = new NaturalBatcher<number, number>({
            run: async (group, inputs) => {
              batches.push({ group, inputs: [...inputs] });
              await turn();
              return inputs.map((n) => n * 10);
            },
            maxInFlight: 2,
            maxBatchSize: (group) => (group === 'a' ? 1 : size),
            lingerMs: (group) => (group === 'c' ? 2 : 0),
          });
          const loads: Array<Promise<number>> = [];
          let n = 0;
          for (const [group, pause] of steps) {
            loads.push(batcher.load(group, n++));
            for (let i = 0; i < pause; i++) await turn();
          }
          await expect(Promise.all(loads)).resolves.toEqual(loads.map((_, i) => i * 10));
          const seen = batches.flatMap((b) => b.inputs).sort((x, y) => x - y);
          expect(seen).toEqual(loads.map((_, i) => i));
          for (const batch of batches) {
            expect(batch.inputs.length).toBeLessThanOrEqual(batch.group === 'a' ? 1 : size);
            expect(batch.inputs).toEqual([...batch.inputs].sort((x, y) => x - y));
          }
          await batcher.idle();
        },
      ),
      { seed: 18, numRuns: 60 },
    );
  });

  it('backs off exponentially up to a ceiling', () => {
    const delay = exponentialDelay(100, 1_000);
    expect([1, 2, 3, 4, 5, 6].map(delay)).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });
});
