import fc from 'fast-check';
import type { EventView } from '../dto/events.dto';
import { type FeedReader, feedItem, FeedSubscriber } from './feed-subscriber';

function event(seq: number, eventType = 'order.created'): EventView {
  return {
    id: `e${seq}`,
    tenant_id: 't',
    seq,
    event_type: eventType,
    source: 'api',
    timestamp: '2026-01-01T00:00:00.000Z',
    metadata: {},
    created_at: '2026-01-01T00:00:00.000Z',
  };
}

/** A subscriber writing into a list, and the frames it got as `event <seq>` / `<type> <seq>`. */
function subscriber(owner = false) {
  const frames: Array<{ type: string; data: { seq: number | null } }> = [];
  const sink = {
    open: true,
    write: (frame: string) => {
      frames.push(JSON.parse(frame) as (typeof frames)[number]);
      return true;
    },
    greet: (frame: string) => sink.write(frame),
  };
  const sub = new FeedSubscriber('t', sink, owner);
  const seen = () => frames.map((f) => `${f.type} ${f.data.seq}`);
  const eventSeqs = () => frames.filter((f) => f.type === 'event').map((f) => f.data.seq);
  return { sub, sink, frames, seen, eventSeqs };
}

/** The tenant's stored events 1..top, read the way the database answers (`after < seq ≤ upTo`). */
function store(top: number, onRead?: () => void): { read: FeedReader; reads: number[] } {
  const reads: number[] = [];
  const all = Array.from({ length: top }, (_, i) => event(i + 1));
  const read: FeedReader = (after, upTo, limit, types) => {
    reads.push(after);
    onRead?.();
    return Promise.resolve(
      all
        .filter((e) => e.seq > after && e.seq <= upTo && (!types || types.includes(e.event_type)))
        .slice(0, limit),
    );
  };
  return { read, reads };
}

describe('FeedSubscriber', () => {
  it("gives an owners-only fact to an owner's subscriber only, without its audience", () => {
    const fact = {
      id: null,
      seq: null,
      tenant_id: 't',
      event_type: 'audit.recorded',
      source: 'audit',
      timestamp: '2026-01-01T00:00:00.000Z',
      metadata: { action: 'api_key.created' },
      created_at: '2026-01-01T00:00:00.000Z',
      audience: 'owners' as const,
    };
    const owner = subscriber(true);
    const member = subscriber(false);
    for (const { sub } of [owner, member]) {
      sub.joinAt(0);
      sub.release();
      sub.deliver(feedItem(fact));
      sub.deliver(feedItem({ ...fact, event_type: 'location.delivered', audience: undefined }));
    }
    const types = (s: ReturnType<typeof subscriber>) =>
      s.frames.map((f) => (f.data as unknown as { event_type: string }).event_type);
    expect(types(owner)).toEqual(['audit.recorded', 'location.delivered']);
    expect(types(member)).toEqual(['location.delivered']);
    expect(owner.frames[0].data).not.toHaveProperty('audience');
  });

  it('replays the missed events, then the live ones held meanwhile: each seq once, in order', async () => {
    const { sub, seen } = subscriber();
    sub.joinAt(5);
    sub.deliver(feedItem(event(6)));
    const { read, reads } = store(5, () => sub.deliver(feedItem(event(7))));

    await sub.resume(undefined, 1, read, 1_000, 2);

    expect(reads).toEqual([1, 3]); // pages of two: (1, 5] then (3, 5]
    // 7 arrived during each page read: held, and written once.
    expect(seen()).toEqual([
      'event 2',
      'event 3',
      'event 4',
      'event 5',
      'subscribed 5',
      'event 6',
      'event 7',
    ]);
    // A live event the replay or the hold already covered is not written again.
    expect(sub.deliver(feedItem(event(6)))).toBe(false);
    expect(sub.deliver(feedItem(event(8)))).toBe(true);
    expect(seen().at(-1)).toBe('event 8');
  });

  it('resuming from at or past where the live stream started replays nothing and skips up to it', async () => {
    const { sub, seen } = subscriber();
    sub.joinAt(5);
    sub.deliver(feedItem(event(6)));
    sub.deliver(feedItem(event(7)));
    const { read, reads } = store(7);

    await sub.resume(undefined, 6, read, 1_000);

    expect(reads).toEqual([]);
    expect(seen()).toEqual(['subscribed 6', 'event 7']);
  });

  it('too far behind answers gap and goes live without reading', async () => {
    const { sub, frames, seen } = subscriber();
    sub.joinAt(2_000);
    sub.deliver(feedItem(event(2_001)));
    const { read, reads } = store(2_000);

    await sub.resume(undefined, 10, read, 1_000);

    expect(reads).toEqual([]);
    expect(frames[0]).toEqual({
      type: 'gap',
      data: { since_seq: 10, seq: 2_000, replay_max: 1_000 },
    });
    expect(seen().slice(1)).toEqual(['subscribed 2000', 'event 2001']);
  });

  it('a failed replay still answers subscribed and turns live', async () => {
    const { sub, seen } = subscriber();
    sub.joinAt(5);
    sub.deliver(feedItem(event(6)));
    const read: FeedReader = () => Promise.reject(new Error('database down'));

    await expect(sub.resume(undefined, 2, read, 1_000)).rejects.toThrow('database down');

    expect(seen()).toEqual(['subscribed 5', 'event 6']);
  });

  it('a subscribe before hello is refused with an error frame', async () => {
    const { sub, frames } = subscriber();
    await sub.resume(['a'], 0, store(0).read, 1_000);
    expect(frames).toEqual([
      {
        type: 'error',
        data: { message: 'The feed is not ready yet: subscribe again after hello' },
      },
    ]);
  });

  it('the type filter applies to the replay and to live events; skipped seqs still count', async () => {
    const { sub, eventSeqs } = subscriber();
    sub.joinAt(4);
    const all = [event(1, 'a'), event(2, 'b'), event(3, 'a'), event(4, 'b')];
    const read: FeedReader = (after, upTo, limit, types) =>
      Promise.resolve(
        all
          .filter((e) => e.seq > after && e.seq <= upTo && types!.includes(e.event_type))
          .slice(0, limit),
      );
    sub.deliver(feedItem(event(5, 'b')));
    sub.deliver(feedItem(event(6, 'a')));

    await sub.resume(['a'], 0, read, 1_000);

    expect(eventSeqs()).toEqual([1, 3, 6]);
    expect(sub.lastSeq).toBe(6);
  });

  it('whatever the resume point and the live arrivals, no seq is written twice or out of order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 30 }),
        fc.integer({ min: 0, max: 40 }),
        fc.array(fc.integer({ min: 1, max: 15 }), { maxLength: 30 }),
        fc.integer({ min: 0, max: 30 }),
        async (head, since, live, splitAt) => {
          const sinceSeq = Math.min(since, head + 5);
          const { sub, eventSeqs } = subscriber();
          sub.joinAt(head);
          // Live events arrive in seq order (the tenant feed orders them), repeated at times.
          const arrivals = [...live].sort((x, y) => x - y).map((n) => head + n);
          const before = arrivals.slice(0, splitAt);
          const during = arrivals.slice(splitAt);
          for (const seq of before) sub.deliver(feedItem(event(seq)));
          const { read } = store(head, () => {
            for (const seq of during.splice(0)) sub.deliver(feedItem(event(seq)));
          });
          await sub.resume(undefined, sinceSeq, read, 1_000, 3);
          for (const seq of during) sub.deliver(feedItem(event(seq)));

          const got = eventSeqs();
          const expected = [
            ...Array.from({ length: Math.max(0, head - sinceSeq) }, (_, i) => sinceSeq + i + 1),
            ...[...new Set(arrivals)].filter((seq) => seq > Math.max(head, sinceSeq)),
          ];
          expect(got).toEqual(expected);
        },
      ),
      { seed: 4_401, numRuns: 150 },
    );
  });
});
