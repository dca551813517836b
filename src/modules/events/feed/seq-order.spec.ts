import fc from 'fast-check';
import { SeqOrder } from './seq-order';

describe('SeqOrder', () => {
  it('lets every seq out once, in order, whatever order and repetition they arrive in', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 50 }),
        fc.integer({ min: 1, max: 40 }).chain((n) =>
          fc.tuple(
            fc.shuffledSubarray(
              Array.from({ length: n }, (_, i) => i + 1),
              { minLength: n, maxLength: n },
            ),
            fc.array(fc.integer({ min: 1, max: n }), { maxLength: 20 }),
          ),
        ),
        (head, [arrivals, repeats]) => {
          const order = new SeqOrder<number>(head);
          const out: number[] = [];
          for (const seq of [...arrivals, ...repeats]) {
            order.offer(head + seq, head + seq);
            out.push(...order.drain());
          }
          expect(out).toEqual(arrivals.map((_, i) => head + i + 1));
          expect(order.head).toBe(head + arrivals.length);
          expect(order.waiting).toBe(0);
          expect(order.hole()).toBeUndefined();
        },
      ),
      { seed: 20_261_204, numRuns: 200 },
    );
  });

  it('holds an item ahead of its predecessor and names the hole before it', () => {
    const order = new SeqOrder<string>(3);
    expect(order.offer(6, 'six')).toBe(true);
    expect(order.offer(7, 'seven')).toBe(true);
    expect(order.drain()).toEqual([]);
    expect(order.hole()).toEqual({ after: 3, upTo: 5 });
    order.offer(4, 'four');
    expect(order.drain()).toEqual(['four']);
    expect(order.hole()).toEqual({ after: 4, upTo: 5 });
    order.offer(5, 'five');
    expect(order.drain()).toEqual(['five', 'six', 'seven']);
    expect(order.head).toBe(7);
    expect(order.hole()).toBeUndefined();
  });

  it('refuses what has left already and what waits already', () => {
    const order = new SeqOrder<string>(3);
    expect(order.wants(3)).toBe(false);
    expect(order.offer(2, 'old')).toBe(false);
    expect(order.offer(5, 'first')).toBe(true);
    expect(order.wants(5)).toBe(false);
    expect(order.offer(5, 'again')).toBe(false);
    order.offer(4, 'four');
    expect(order.drain()).toEqual(['four', 'first']);
  });
});
