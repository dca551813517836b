import fc from 'fast-check';
import { claimSlots, storedSlots } from './batch-slots';

const runs = { seed: 4242, numRuns: 200 };
const uuid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

describe('storedSlots', () => {
  it('gives a new message its own row, and a taken key the first message of that key', () => {
    const inputs = [
      { id: uuid(1), idempotencyKey: 'a' },
      { id: uuid(2) },
      { id: uuid(3), idempotencyKey: 'a' },
      { id: uuid(4), idempotencyKey: 'old' },
    ];
    // What messaging_store returns: the new rows, then the rows of keys already taken.
    const rows = [
      { id: uuid(1), idempotency_key: 'a' },
      { id: uuid(2), idempotency_key: null },
      { id: uuid(9), idempotency_key: 'old' },
    ];
    expect(storedSlots(inputs, rows)).toEqual([
      { row: rows[0], created: true },
      { row: rows[1], created: true },
      { row: rows[0], created: false },
      { row: rows[2], created: false },
    ]);
  });

  it('refuses to answer an input the statement stored nowhere', () => {
    expect(() =>
      storedSlots([{ id: uuid(1) }, { id: uuid(2) }], [{ id: uuid(1), idempotency_key: null }]),
    ).toThrow('batch slot 1');
  });
});

describe('claimSlots', () => {
  it('claims a message twice in one batch by its first slot only', () => {
    const rows = [{ id: uuid(1), queue_name: 'q', attempts: 1 }];
    const deliveries = [
      { id: uuid(1), queueName: 'q' },
      { id: uuid(1), queueName: 'q' },
    ];
    expect(claimSlots(deliveries, rows)).toEqual([rows[0], null]);
  });

  it('does not hand a row claimed for one queue to a delivery from another', () => {
    const rows = [{ id: uuid(1), queue_name: 'q' }];
    expect(claimSlots([{ id: uuid(1), queueName: 'other' }], rows)).toEqual([null]);
  });

  it('hands each claimed row to exactly one delivery, whatever the batch', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ n: fc.integer({ min: 1, max: 6 }), q: fc.constantFrom('a', 'b') }), {
          maxLength: 20,
        }),
        fc.func(fc.boolean()),
        (batch, isClaimed) => {
          const deliveries = batch.map(({ n, q }) => ({ id: uuid(n), queueName: q }));
          const distinct = [
            ...new Map(deliveries.map((d) => [`${d.id}/${d.queueName}`, d])).values(),
          ];
          const rows = distinct
            .filter((d) => isClaimed(`${d.id}/${d.queueName}`))
            .map((d) => ({ id: d.id, queue_name: d.queueName }));
          const slots = claimSlots(deliveries, rows);
          const handed = slots.filter((row) => row !== null);
          expect(new Set(handed).size).toBe(handed.length);
          expect(handed.length).toBe(rows.length);
          slots.forEach((row, i) => {
            if (row)
              expect(`${row.id}/${row.queue_name}`).toBe(
                `${deliveries[i].id}/${deliveries[i].queueName}`,
              );
          });
        },
      ),
      runs,
    );
  });
});
