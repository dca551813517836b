import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import CircuitBreaker from 'opossum';
import { locationConfig, type LocationConfig } from '../../../config';
import { type DeliveryResult, OutboundHttp } from '../../../shared/outbound';
import { NaturalBatcher } from '../../../shared/batching';
import { type DeliveryTarget, DeliverySettingsService } from './delivery-settings.service';
import { breakerSources, deliveryBatchItems, deliverySeconds } from '../location.metrics';
import {
  batchDelivery,
  deliveryBody,
  type LocationUpdateMessage,
} from '../updates/location-update.message';
import { tenantLabel } from '../../../shared/metrics';

export interface DeliveryOutcome extends Partial<DeliveryResult> {
  ok: boolean;
  /** No target (none set, or the tenant turned delivery off): nothing to deliver. */
  skipped?: boolean;
  /** The target's breaker is open: not attempted. */
  breakerOpen?: boolean;
  retryable: boolean;
  error?: string;
  target?: string;
}

class RetryableFailure extends Error {
  constructor(readonly result: DeliveryResult) {
    super(result.error ?? `HTTP ${result.status}`);
  }
}

type Breaker = CircuitBreaker<[string, () => Promise<DeliveryResult>], DeliveryResult>;

/** One tenant's view of one target origin: its own breaker and its own last success and error. */
interface TargetState {
  tenantId: string;
  origin: string;
  breaker: Breaker;
  lastSuccessAt: Date | null;
  lastErrorAt: Date | null;
  lastError: string | null;
}

export interface TargetHealth {
  tenantId: string;
  target: string;
  state: 'closed' | 'half_open' | 'open';
  lastSuccessAt: Date | null;
  lastErrorAt: Date | null;
  lastError: string | null;
}

/** Tenant-target pairs kept in memory; the least recently used is dropped beyond this. */
const MAX_TARGETS = 10_000;

/** An update waiting to join a batch, with the target it was read for. */
interface Batched {
  record: LocationUpdateMessage;
  target: DeliveryTarget & { batch: NonNullable<DeliveryTarget['batch']> };
}

/** One batcher group per (tenant, URL, batch settings): a change of settings starts a new one. */
const batchGroup = ({ record, target }: Batched) =>
  `${record.tenant_id} ${target.batch.maxItems} ${target.batch.lingerMs} ${target.url}`;
const groupSettings = (group: string) => {
  const [, maxItems, lingerMs] = group.split(' ', 3);
  return { maxItems: Number(maxItems), lingerMs: Number(lingerMs) };
};

/**
 * One delivery of one update to its tenant's target through a circuit breaker per (tenant,
 * target origin): many deliveries in flight at once, no global lock. Tenants that share an
 * origin (the operator's endpoint, a common provider) never share a breaker, so one tenant's
 * failing deliveries cannot stop another's. An open breaker answers at once (`breakerOpen`), so
 * the caller dead-letters instead of waiting.
 */
@Injectable()
export class DeliveryService implements OnApplicationShutdown {
  private readonly logger = new Logger(DeliveryService.name);
  private readonly targets = new Map<string, TargetState>();
  private readonly source = { breakerStates: () => this.breakerStates() };
  /**
   * Targets that take batches: the updates of one (tenant, target) in flight together share a
   * POST (up to its `max_items`, after at most its linger), with up to
   * `LOCATION_DELIVERY_BATCHES_IN_FLIGHT` POSTs at once; every update gets the batch's outcome.
   */
  private readonly batches: NaturalBatcher<Batched, DeliveryOutcome>;

  constructor(
    private readonly outbound: OutboundHttp,
    private readonly settings: DeliverySettingsService,
    @Inject(locationConfig.KEY) private readonly config: LocationConfig,
  ) {
    breakerSources.add(this.source);
    this.batches = new NaturalBatcher({
      run: (_group, items) => this.deliverBatch(items),
      maxBatchSize: (group) => groupSettings(group).maxItems,
      lingerMs: (group) => groupSettings(group).lingerMs,
      maxInFlight: config.deliveryBatchesInFlight,
      maxGroups: MAX_TARGETS,
    });
  }

  /** Consumers stopped before this (`beforeApplicationShutdown`): none is mid-delivery. */
  onApplicationShutdown(): void {
    breakerSources.delete(this.source);
    this.batches.close();
    for (const state of this.targets.values()) state.breaker.shutdown();
  }

  async deliver(record: LocationUpdateMessage): Promise<DeliveryOutcome> {
    const target = await this.settings.target(record.tenant_id);
    if (!target) return { ok: false, skipped: true, retryable: false };
    if (target.batch) {
      const item: Batched = { record, target: { ...target, batch: target.batch } };
      return this.batches.load(batchGroup(item), item);
    }
    return this.send(record.tenant_id, target, deliveryBody(record), record.event_id);
  }

  /** One POST of the updates of one group; each gets its outcome. */
  private async deliverBatch(items: readonly Batched[]): Promise<DeliveryOutcome[]> {
    const { record, target } = items[0];
    const { body, idempotencyKey } = batchDelivery(
      items.map((item) => item.record),
      target.secret,
      Math.floor(Date.now() / 1000),
    );
    deliveryBatchItems.observe({ tenant_id: tenantLabel(record.tenant_id) }, items.length);
    const outcome = await this.send(record.tenant_id, target, body, idempotencyKey);
    return items.map(() => outcome);
  }

  private async send(
    tenantId: string,
    target: DeliveryTarget,
    body: string,
    idempotencyKey: string,
  ): Promise<DeliveryOutcome> {
    const origin = originOf(target.url);
    const state = this.stateFor(tenantId, origin);
    const call = () =>
      this.outbound.deliver({
        url: target.url,
        body,
        idempotencyKey,
        signingSecret: target.secret,
        timeoutMs: this.config.deliveryTimeoutMs,
        operatorTarget: target.source === 'operator',
      });
    try {
      const result = await state.breaker.fire(origin, call);
      deliverySeconds.observe(
        { outcome: result.ok ? 'ok' : 'failed', tenant_id: tenantLabel(tenantId) },
        result.latencyMs / 1000,
      );
      if (result.ok) state.lastSuccessAt = new Date();
      else this.noteError(state, result.error ?? `HTTP ${result.status}`);
      return { ...result, target: origin };
    } catch (error) {
      if (error instanceof RetryableFailure) {
        deliverySeconds.observe(
          { outcome: 'retryable', tenant_id: tenantLabel(tenantId) },
          error.result.latencyMs / 1000,
        );
        this.noteError(state, error.message);
        return { ...error.result, target: origin };
      }
      const open = (error as { code?: string }).code === 'EOPENBREAKER';
      const message = open ? `circuit open for ${origin}` : (error as Error).message;
      if (!open) this.noteError(state, message);
      return { ok: false, retryable: true, breakerOpen: open, error: message, target: origin };
    }
  }

  /** Each (tenant, target) this instance delivered to; `tenantId` null = every tenant's. */
  targetHealth(tenantId: string | null): TargetHealth[] {
    const out: TargetHealth[] = [];
    for (const state of this.targets.values()) {
      if (tenantId !== null && state.tenantId !== tenantId) continue;
      out.push({
        tenantId: state.tenantId,
        target: state.origin,
        state: state.breaker.opened ? 'open' : state.breaker.halfOpen ? 'half_open' : 'closed',
        lastSuccessAt: state.lastSuccessAt,
        lastErrorAt: state.lastErrorAt,
        lastError: state.lastError,
      });
    }
    return out;
  }

  /** Breaker state per (tenant, target) key: 0 closed, 1 half-open, 2 open (for /metrics). */
  breakerStates(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [key, state] of this.targets) {
      out[key] = state.breaker.opened ? 2 : state.breaker.halfOpen ? 1 : 0;
    }
    return out;
  }

  private noteError(state: TargetState, message: string): void {
    state.lastErrorAt = new Date();
    state.lastError = message;
  }

  private stateFor(tenantId: string, origin: string): TargetState {
    const key = `${tenantId} ${origin}`;
    let state = this.targets.get(key);
    if (state) {
      // Most recently used last: the first entry is the one to drop when full.
      this.targets.delete(key);
      this.targets.set(key, state);
      return state;
    }
    if (this.targets.size >= MAX_TARGETS) {
      const [oldest, old] = this.targets.entries().next().value!;
      old.breaker.shutdown();
      this.targets.delete(oldest);
    }
    const breaker: Breaker = new CircuitBreaker(
      async (_origin: string, call: () => Promise<DeliveryResult>) => {
        const result = await call();
        // Only failures that say "the target is unwell" count against the breaker.
        if (!result.ok && result.retryable) throw new RetryableFailure(result);
        return result;
      },
      {
        timeout: false,
        errorThresholdPercentage: this.config.breaker.errorThresholdPercentage,
        resetTimeout: this.config.breaker.resetTimeoutMs,
        volumeThreshold: this.config.breaker.volumeThreshold,
        rollingCountTimeout: 10_000,
        rollingCountBuckets: 10,
      },
    );
    breaker.on('open', () =>
      this.logger.warn({ tenantId, target: origin }, 'Delivery breaker open'),
    );
    breaker.on('close', () =>
      this.logger.log({ tenantId, target: origin }, 'Delivery breaker closed'),
    );
    state = { tenantId, origin, breaker, lastSuccessAt: null, lastErrorAt: null, lastError: null };
    this.targets.set(key, state);
    return state;
  }
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}
