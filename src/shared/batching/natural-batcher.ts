import DataLoader from 'dataloader';
import { LRUCache } from 'lru-cache';

export interface NaturalBatcherOptions<I, O> {
  /**
   * Runs one batch of one group; the results are aligned with the inputs, and an `Error` in a
   * slot rejects that input only. A throw rejects the whole batch (after `retry`, if set).
   */
  run: (group: string, inputs: readonly I[]) => Promise<ReadonlyArray<O | Error>>;
  /** Inputs per batch at most (default 100); a function gives each group its own, read once per group. */
  maxBatchSize?: number | ((group: string) => number);
  /**
   * How long a batch that could start waits for more inputs first (default 0: it starts on the
   * next turn). It starts at once when it holds `maxBatchSize`. A batch that waits for a running
   * one (or a shared slot) collects meanwhile and lingers no longer. A function gives each group
   * its own, read once per group.
   */
  lingerMs?: number | ((group: string) => number);
  /** Batches of one group running at once (default 1); what arrives meanwhile waits and joins. */
  maxInFlight?: number;
  /** Groups remembered at most (least recently used forgotten first; default 10,000). */
  maxGroups?: number;
  /**
   * Inputs one group may hold (loaded, not yet settled) at most; a load beyond is refused at once
   * with a `BatcherFullError` (scope `group`). Default: no bound.
   */
  maxHeldPerGroup?: number;
  /** Inputs all groups together may hold at most (scope `total`). Default: no bound. */
  maxHeld?: number;
  /** Runs a batch whose `run` threw again, after a wait; the group's slot stays taken meanwhile. */
  retry?: BatchRetry;
  /**
   * Batches of every group running at once at most, shared with the other batchers given the
   * same `BatchSlots` (default: no bound across groups). A batch beyond waits, and keeps taking
   * inputs, until one ends: many groups on one connection pool take at most this many of its
   * connections, and what waits for a slot is batched larger instead of queued on the pool.
   */
  slots?: BatchSlots;
}

/**
 * A bound on the batches running at once across groups and batchers (see
 * `NaturalBatcherOptions.slots`); waiting batches start in arrival order.
 */
export class BatchSlots {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly size: number) {
    if (!(size >= 1)) throw new Error('BatchSlots size must be at least 1');
  }

  /** Batches running now, and batches waiting for a slot. */
  get stats(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  /** Runs `start` now if a slot is free, else when one frees; `release` must follow once it ends. */
  take(start: () => void): void {
    if (this.running < this.size) {
      this.running++;
      start();
    } else this.waiting.push(start);
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running--;
  }

  /** `work` in a slot (waiting for one first). */
  run<T>(work: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) =>
      this.take(() => {
        // An async step: a synchronous throw of `work` rejects too, and the slot is released.
        void Promise.resolve()
          .then(work)
          .then(resolve, reject)
          .finally(() => this.release());
      }),
    );
  }
}

export interface BatchRetry {
  /** Runs of one batch in all, the first included (1: no retry). */
  attempts: number;
  /** The wait before run number `attempt + 1` (attempt counts from 1). */
  delayMs: (attempt: number) => number;
  /** Whether an error is worth another run (default: every error). */
  retryable?: (error: unknown) => boolean;
  /** Called before each wait (for logs and metrics). */
  onRetry?: (group: string, error: unknown, attempt: number, size: number) => void;
}

/** A load refused because a group, or the batcher as a whole, holds as much as it may. */
export class BatcherFullError extends Error {
  constructor(readonly scope: 'group' | 'total') {
    super(scope === 'group' ? 'Batcher group is full' : 'Batcher is full');
    this.name = 'BatcherFullError';
  }
}

/** Exponential backoff: `baseMs`, doubled per attempt, at most `maxMs`. */
export function exponentialDelay(baseMs: number, maxMs: number): (attempt: number) => number {
  return (attempt) => Math.min(maxMs, baseMs * 2 ** (attempt - 1));
}

interface Group<I, O> {
  loader: DataLoader<I, O>;
  maxBatchSize: number;
  lingerMs: number;
  /** Inputs in the batch being collected (the newest one DataLoader made). */
  collecting: number;
  /** Starts the newest batch now, ending its linger (set while it lingers). */
  lingering: (() => void) | null;
  running: number;
  /** Dispatches scheduled for the next turn. */
  starting: number;
  waiting: Array<() => void>;
  /** Inputs loaded and not yet settled. */
  held: number;
}

/**
 * Natural batching per group (a tenant, say): an input starts a batch at once when its group has
 * fewer than `maxInFlight` batches running, else it joins the batch that starts when one of them
 * ends. Nothing waits on a timer: alone, an input costs one batch of one; under load, the unit of
 * work (a transaction, a round trip) is shared by everything that arrived while the last one ran.
 * DataLoader does the collecting and the per-input settling; this decides when a batch starts,
 * how much may wait (refused beyond the bounds, never held without limit), and how a failed batch
 * is run again.
 */
export class NaturalBatcher<I, O> {
  private readonly groups: LRUCache<string, Group<I, O>>;
  private readonly maxInFlight: number;
  private heldTotal = 0;
  private closed = false;
  /** Ends the retry waits in progress (at close). */
  private readonly wakers = new Set<() => void>();
  private readonly idlers: Array<() => void> = [];

  constructor(private readonly options: NaturalBatcherOptions<I, O>) {
    this.maxInFlight = options.maxInFlight ?? 1;
    this.groups = new LRUCache({ max: options.maxGroups ?? 10_000 });
  }

  load(group: string, input: I): Promise<O> {
    if (this.options.maxHeld !== undefined && this.heldTotal >= this.options.maxHeld) {
      return Promise.reject(new BatcherFullError('total'));
    }
    const state = this.groupOf(group);
    if (this.options.maxHeldPerGroup !== undefined && state.held >= this.options.maxHeldPerGroup) {
      return Promise.reject(new BatcherFullError('group'));
    }
    state.held++;
    this.heldTotal++;
    const loaded = state.loader.load(input);
    // A lingering batch that is now full starts at once (DataLoader opens a new batch next).
    if (++state.collecting >= state.maxBatchSize) state.lingering?.();
    return loaded;
  }

  /** Inputs loaded and not yet settled: of one group, or of all. */
  held(group?: string): number {
    return group === undefined ? this.heldTotal : (this.groups.peek(group)?.held ?? 0);
  }

  /**
   * Stops retrying: a batch waiting for its next run runs once more now, and a batch that fails
   * from now on is rejected at once. Loads are still taken (and run once each).
   */
  close(): void {
    this.closed = true;
    for (const wake of this.wakers) wake();
    this.wakers.clear();
  }

  /** Resolves when nothing is held (every load settled, its callbacks run). */
  async idle(): Promise<void> {
    if (this.heldTotal > 0) await new Promise<void>((resolve) => this.idlers.push(resolve));
    await new Promise((resolve) => setImmediate(resolve));
  }

  private async runWithRetry(
    name: string,
    inputs: readonly I[],
  ): Promise<ReadonlyArray<O | Error>> {
    const retry = this.options.retry;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.options.run(name, inputs);
      } catch (error) {
        const again =
          retry !== undefined &&
          !this.closed &&
          attempt < retry.attempts &&
          (retry.retryable?.(error) ?? true);
        if (!again) throw error;
        retry.onRetry?.(name, error, attempt, inputs.length);
        await this.wait(retry.delayMs(attempt));
      }
    }
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }

  /** `begin` after the group's linger, or as soon as the batch is full (whichever is first). */
  private linger(group: Group<I, O>, begin: () => void): void {
    let fired = false;
    const go = () => {
      if (fired) return;
      fired = true;
      clearTimeout(timer);
      if (group.lingering === go) group.lingering = null;
      // On a later turn, as without linger: the input that filled the batch joins it first.
      setImmediate(begin);
    };
    const timer = setTimeout(go, group.lingerMs);
    group.lingering = go;
  }

  private settled(group: Group<I, O>, count: number): void {
    group.held -= count;
    this.heldTotal -= count;
    if (this.heldTotal === 0) for (const resolve of this.idlers.splice(0)) resolve();
  }

  private groupOf(name: string): Group<I, O> {
    const known = this.groups.get(name);
    if (known) return known;
    const { maxBatchSize = 100, lingerMs = 0 } = this.options;
    const group: Group<I, O> = {
      running: 0,
      starting: 0,
      waiting: [],
      held: 0,
      loader: undefined!,
      maxBatchSize: typeof maxBatchSize === 'function' ? maxBatchSize(name) : maxBatchSize,
      lingerMs: typeof lingerMs === 'function' ? lingerMs(name) : lingerMs,
      collecting: 0,
      lingering: null,
    };
    const slots = this.options.slots;
    group.loader = new DataLoader<I, O>(
      async (inputs) => {
        group.running++;
        try {
          return await this.runWithRetry(name, inputs);
        } finally {
          group.running--;
          slots?.release();
          this.settled(group, inputs.length);
          group.waiting.shift()?.();
        }
      },
      {
        cache: false,
        maxBatchSize: group.maxBatchSize,
        // Called when a batch is created, before its first input joins: it starts on a later turn.
        batchScheduleFn: (dispatch) => {
          group.collecting = 0;
          group.lingering?.(); // a newer batch: the previous one (full) goes now
          // The group's own bound first, then a shared slot: the batch collects inputs until
          // both let it start, and counts as starting for its group meanwhile.
          const begin = () => {
            const go = () => {
              group.starting--;
              dispatch();
            };
            if (slots) slots.take(go);
            else go();
          };
          if (group.running + group.starting < this.maxInFlight) {
            group.starting++;
            if (group.lingerMs > 0) this.linger(group, begin);
            else setImmediate(begin);
          } else
            group.waiting.push(() => {
              group.starting++;
              begin();
            });
        },
      },
    );
    this.groups.set(name, group);
    return group;
  }
}
