import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import CircuitBreaker from 'opossum';
import { locationConfig, type LocationConfig } from '../../config';
import { type DeliveryResult, OutboundHttp } from '../../shared/outbound';
import { DeliverySettingsService } from './delivery-settings.service';
import { breakerSources, deliverySeconds } from './location.metrics';
import { deliveryBody, type LocationUpdateMessage } from './messages/location-update.message';

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

interface TargetHealth {
  lastSuccessAt: Date | null;
  lastErrorAt: Date | null;
  lastError: string | null;
}

/**
 * One delivery of one update to its tenant's target through a circuit breaker per target
 * origin: many deliveries in flight at once, no global lock. An open breaker answers at once
 * (`breakerOpen`), so the caller dead-letters instead of waiting.
 */
@Injectable()
export class DeliveryService implements OnApplicationShutdown {
  private readonly logger = new Logger(DeliveryService.name);
  private readonly breakers = new Map<
    string,
    CircuitBreaker<[string, () => Promise<DeliveryResult>], DeliveryResult>
  >();
  readonly health = new Map<string, TargetHealth>();
  private readonly source = { breakerStates: () => this.breakerStates() };

  constructor(
    private readonly outbound: OutboundHttp,
    private readonly settings: DeliverySettingsService,
    @Inject(locationConfig.KEY) private readonly config: LocationConfig,
  ) {
    breakerSources.add(this.source);
  }

  /** Consumers stopped before this (`beforeApplicationShutdown`): none is mid-delivery. */
  onApplicationShutdown(): void {
    breakerSources.delete(this.source);
    for (const breaker of this.breakers.values()) breaker.shutdown();
  }

  async deliver(record: LocationUpdateMessage): Promise<DeliveryOutcome> {
    const target = await this.settings.target(record.tenant_id);
    if (!target) return { ok: false, skipped: true, retryable: false };
    const origin = originOf(target.url);
    const breaker = this.breakerFor(origin);
    const body = deliveryBody(record);
    const call = () =>
      this.outbound.deliver({
        url: target.url,
        body,
        idempotencyKey: record.event_id,
        signingSecret: target.secret,
        timeoutMs: this.config.deliveryTimeoutMs,
      });
    const health = this.healthOf(origin);
    try {
      const result = await breaker.fire(origin, call);
      deliverySeconds.observe({ outcome: result.ok ? 'ok' : 'failed' }, result.latencyMs / 1000);
      if (result.ok) health.lastSuccessAt = new Date();
      else this.noteError(health, result.error ?? `HTTP ${result.status}`);
      return { ...result, target: origin };
    } catch (error) {
      if (error instanceof RetryableFailure) {
        deliverySeconds.observe({ outcome: 'retryable' }, error.result.latencyMs / 1000);
        this.noteError(health, error.message);
        return { ...error.result, target: origin };
      }
      const open = (error as { code?: string }).code === 'EOPENBREAKER';
      const message = open ? `circuit open for ${origin}` : (error as Error).message;
      if (!open) this.noteError(health, message);
      return { ok: false, retryable: true, breakerOpen: open, error: message, target: origin };
    }
  }

  breakerStates(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [origin, breaker] of this.breakers) {
      out[origin] = breaker.opened ? 2 : breaker.halfOpen ? 1 : 0;
    }
    return out;
  }

  private noteError(health: TargetHealth, message: string): void {
    health.lastErrorAt = new Date();
    health.lastError = message;
  }

  private healthOf(origin: string): TargetHealth {
    let health = this.health.get(origin);
    if (!health) {
      health = { lastSuccessAt: null, lastErrorAt: null, lastError: null };
      this.health.set(origin, health);
    }
    return health;
  }

  private breakerFor(origin: string) {
    let breaker = this.breakers.get(origin);
    if (!breaker) {
      if (this.breakers.size >= 1_000) {
        const [oldest, old] = this.breakers.entries().next().value!;
        old.shutdown();
        this.breakers.delete(oldest);
      }
      breaker = new CircuitBreaker(
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
      breaker.on('open', () => this.logger.warn(`Delivery breaker open for ${origin}`));
      breaker.on('close', () => this.logger.log(`Delivery breaker closed for ${origin}`));
      this.breakers.set(origin, breaker);
    }
    return breaker;
  }
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}
