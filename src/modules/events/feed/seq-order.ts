/**
 * The order of one tenant's feed: items arrive by `seq` in any order and leave in seq order after
 * `head`, each once. An item ahead of its predecessor waits until the hole before it is filled
 * (by a late publication, or read from the database).
 */
export class SeqOrder<T> {
  private readonly pending = new Map<number, T>();

  constructor(private current: number) {}

  /** Every item with seq ≤ head has left. */
  get head(): number {
    return this.current;
  }

  /** Items waiting for a predecessor. */
  get waiting(): number {
    return this.pending.size;
  }

  /** Whether an item of this seq is new: not left yet and not waiting already. */
  wants(seq: number): boolean {
    return seq > this.current && !this.pending.has(seq);
  }

  /** Takes an item unless it left already or waits already (a duplicate); true when taken. */
  offer(seq: number, item: T): boolean {
    if (!this.wants(seq)) return false;
    this.pending.set(seq, item);
    return true;
  }

  /** The items that follow `head` without a hole, in seq order; `head` moves past them. */
  drain(): T[] {
    const out: T[] = [];
    for (let next = this.current + 1; this.pending.has(next); next++) {
      out.push(this.pending.get(next)!);
      this.pending.delete(next);
      this.current = next;
    }
    return out;
  }

  /** The hole before the first waiting item (`after < seq ≤ upTo`); undefined when none waits. */
  hole(): { after: number; upTo: number } | undefined {
    if (this.pending.size === 0) return undefined;
    return { after: this.current, upTo: Math.min(...this.pending.keys()) - 1 };
  }
}
