/** Which row of a batched statement answers which input: each caller gets its own outcome. */

/** A stored message as `messaging_store` returns it (new rows, then the rows of taken keys). */
interface StoredRow {
  id: string;
  idempotency_key: string | null;
}

/**
 * Each input's row: its own (new, under the id chosen for it), or the first message of its
 * idempotency key (taken before or by an earlier slot of the same batch). An input with
 * neither is an error: the statement stored it nowhere.
 */
export function storedSlots<R extends StoredRow>(
  inputs: ReadonlyArray<{ id: string; idempotencyKey?: string }>,
  rows: readonly R[],
): Array<{ row: R; created: boolean }> {
  const byId = new Map(rows.map((row) => [row.id, row]));
  const byKey = new Map(rows.map((row) => [row.idempotency_key, row]));
  return inputs.map((input, i) => {
    const row = byId.get(input.id);
    if (row) return { row, created: true };
    const first = input.idempotencyKey ? byKey.get(input.idempotencyKey) : undefined;
    if (!first) throw new Error(`Message of batch slot ${i} neither stored nor found`);
    return { row: first, created: false };
  });
}

/**
 * Each delivery's claimed row, or null. A message twice in one batch (a relayed duplicate) is
 * claimed by its first slot only: the other is acked as a duplicate, so the handler runs once.
 */
export function claimSlots<R extends { id: string; queue_name: string }>(
  deliveries: ReadonlyArray<{ id: string; queueName: string }>,
  rows: readonly R[],
): Array<R | null> {
  const claimed = new Map(rows.map((row) => [`${row.id}/${row.queue_name}`, row]));
  return deliveries.map((delivery) => {
    const key = `${delivery.id}/${delivery.queueName}`;
    const row = claimed.get(key) ?? null;
    claimed.delete(key);
    return row;
  });
}
