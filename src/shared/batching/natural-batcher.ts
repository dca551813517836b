import DataLoader from 'dataloader';
import { LRUCache } from 'lru-cache';

export interface NaturalBatcherOptions<I, O> {
  /**
   * Runs one batch of one group; the results are aligned with the inputs, and an `Error` in a
   * slot rejects that input only. A throw rejects the whole batch.
   */
  run: (group: string, inputs: readonly I[]) => Promise<ReadonlyArray<O | Error>>;
  /** Inputs per batch at most (default 100). */
  maxBatchSize?: number;
  /** Batches of one group running at once (default 1); what arrives meanwhile waits and joins. */
  maxInFlight?: number;
  /** Groups remembered at most (least recently used forgotten first; default 10,000). */
  maxGroups?: number;
}

interface Group<I, O> {
  loader: DataLoader<I, O>;
  running: number;
  /** Dispatches scheduled for the next turn. */
  starting: number;
  waiting: Array<() => void>;
}

/**
 * Natural batching per group (a tenant, say): an input starts a batch at once when its group has
 * fewer than `maxInFlight` batches running, else it joins the batch that starts when one of them
 * ends. Nothing waits on a timer: alone, an input costs one batch of one; under load, the unit of
 * work (a transaction, a round trip) is shared by everything that arrived while the last one ran.
 * DataLoader does the collecting and the per-input settling; this decides when a batch starts.
 */
export class NaturalBatcher<I, O> {
  private readonly groups: LRUCache<string, Group<I, O>>;
  private readonly maxInFlight: number;

  constructor(private readonly options: NaturalBatcherOptions<I, O>) {
    this.maxInFlight = options.maxInFlight ?? 1;
    this.groups = new LRUCache({ max: options.maxGroups ?? 10_000 });
  }

  load(group: string, input: I): Promise<O> {
    return this.groupOf(group).loader.load(input);
  }

  private groupOf(name: string): Group<I, O> {
    const known = this.groups.get(name);
    if (known) return known;
    const group: Group<I, O> = { running: 0, starting: 0, waiting: [], loader: undefined! };
    group.loader = new DataLoader<I, O>(
      async (inputs) => {
        group.running++;
        try {
          return await this.options.run(name, inputs);
        } finally {
          group.running--;
          group.waiting.shift()?.();
        }
      },
      {
        cache: false,
        maxBatchSize: this.options.maxBatchSize ?? 100,
        // Called when a batch is created, before its first input joins: it starts on a later turn.
        batchScheduleFn: (dispatch) => {
          if (group.running + group.starting < this.maxInFlight) {
            group.starting++;
            setImmediate(() => {
              group.starting--;
              dispatch();
            });
          } else group.waiting.push(dispatch);
        },
      },
    );
    this.groups.set(name, group);
    return group;
  }
}
