import { Logger } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { randomUUID } from 'node:crypto';
import type { EventsConfig } from '../../config';
import { AppError } from '../../shared/errors';
import type { EventsBus } from './feed/events-bus';
import { feedFactsDropped, feedFlushRetries } from './events.metrics';
import type { EventsService, NewEvent } from './events.service';
import { FEED_BOUNDS, LifecycleFeedListener } from './lifecycle-feed.listener';

const config = { storeLocationDelivered: false, storeMessageProcessed: false } as EventsConfig;

async function dropped(reason: string): Promise<number> {
  const metric = await feedFactsDropped.get();
  // Every tenant's series of the reason.
  return metric.values
    .filter((v) => v.labels.reason === reason)
    .reduce((sum, v) => sum + v.value, 0);
}
async function retries(): Promise<number> {
  return (await feedFlushRetries.get()).values.reduce((sum, v) => sum + v.value, 0);
}

/** An events service whose ingest the test steers: each call answers with the next behaviour. */
function harness(ingest: (tenantId: string, batch: NewEvent[]) => Promise<void>) {
  const stored = new Map<string, NewEvent[]>();
  const events = {
    ingest: async (tenantId: string, batch: NewEvent[]) => {
      await ingest(tenantId, batch);
      stored.set(tenantId, [...(stored.get(tenantId) ?? []), ...batch]);
      return [];
    },
  } as unknown as EventsService;
  const bus = { publish: () => Promise.resolve() } as unknown as EventsBus;
  const emitter = new EventEmitter2();
  const listener = new LifecycleFeedListener(events, bus, emitter, config);
  listener.onModuleInit();
  const emit = (tenantId: string, n: number) => {
    for (let i = 0; i < n; i++) emitter.emit('messaging.queue.scaled', { tenantId, workers: i });
  };
  const until = async (check: () => boolean) => {
    for (let i = 0; i < 2_000 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
    expect(check()).toBe(true);
  };
  return { listener, stored, emit, until };
}

describe('LifecycleFeedListener: bounded, retried feed writes', () => {
  beforeAll(() => {
    Logger.overrideLogger(false);
  });

  it('writes a batch again after failures, so every fact is stored once and none is dropped', async () => {
    const tenant = randomUUID();
    let failures = 2;
    const h = harness(() =>
      failures-- > 0 ? Promise.reject(new Error('db down')) : Promise.resolve(),
    );
    const [retriesBefore, failedBefore] = [await retries(), await dropped('failed')];
    h.emit(tenant, 5);
    await h.until(() => (h.stored.get(tenant)?.length ?? 0) === 5);
    expect(h.stored.get(tenant)!.map((f) => f.metadata?.workers)).toEqual([0, 1, 2, 3, 4]);
    expect((await retries()) - retriesBefore).toBe(2);
    expect((await dropped('failed')) - failedBefore).toBe(0);
    await h.listener.onApplicationShutdown();
  });

  it('holds at most its bound per tenant while that tenant is stuck, drops and counts the rest, and lets another tenant through', async () => {
    const [stuck, healthy] = [randomUUID(), randomUUID()];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const h = harness((tenantId) => (tenantId === stuck ? gate : Promise.resolve()));
    const before = await dropped('tenant_limit');
    const extra = 25;
    h.emit(stuck, FEED_BOUNDS.maxHeldPerTenant + extra);
    h.emit(healthy, 3);
    await h.until(() => (h.stored.get(healthy)?.length ?? 0) === 3);
    expect(h.listener.heldCount()).toBe(FEED_BOUNDS.maxHeldPerTenant);
    expect((await dropped('tenant_limit')) - before).toBe(extra);
    release();
    await h.until(() => (h.stored.get(stuck)?.length ?? 0) === FEED_BOUNDS.maxHeldPerTenant);
    expect(h.listener.heldCount()).toBe(0);
    await h.listener.onApplicationShutdown();
  });

  it('does not retry a refusal, and gives up retrying at shutdown; both counted as failed', async () => {
    const [gone, down] = [randomUUID(), randomUUID()];
    let calls = 0;
    const h = harness((tenantId) => {
      calls++;
      return Promise.reject(
        tenantId === gone ? new AppError('TENANCY.NOT_FOUND', 404, 'gone') : new Error('db down'),
      );
    });
    const failedBefore = await dropped('failed');
    h.emit(gone, 2);
    await h.until(() => calls === 1);
    await h.until(() => h.listener.heldCount() === 0);
    h.emit(down, 3);
    await h.until(() => calls === 2); // first try failed, now waiting for its retry
    await h.listener.onApplicationShutdown();
    expect(calls).toBe(3); // one last try at shutdown, none after
    expect((await dropped('failed')) - failedBefore).toBe(5);
  });
});
