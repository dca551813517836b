import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { locationConfig, type LocationConfig } from '../../../config';
import { isClientAppError } from '../../../shared/kafka';
import { emitLifecycleEvent } from '../../../shared/lifecycle';
import { inSpan, linksTo, SpanKind } from '../../../shared/telemetry';
import { Clock } from '../clock';
import { DeliveryService } from './delivery.service';
import {
  LOCATION_UPDATE_PERMANENTLY_FAILED,
  LOCATION_UPDATE_RESOLVED,
  LocationPermanentlyFailedEvent,
  LocationResolvedEvent,
} from '../location.events';
import { ledgerOutcomes, updatesDelivered } from '../location.metrics';
import { type LedgerRow, RetryLedgerRepository } from './retry-ledger.repository';
import { nextRetryAt } from './retry-schedule';
import { tenantLabel } from '../../../shared/metrics';

/**
 * Redelivers due ledger rows. Each tick claims up to `LOCATION_RETRY_BATCH` due rows, oldest due
 * first and shared round-robin between tenants (FOR UPDATE SKIP LOCKED, under a lease): safe
 * with any number of instances, and a tenant with a flood of due rows cannot hold back another's.
 * Every row is redelivered, whatever its session's state now: the update was accepted while the
 * session was active, and that is what makes it deliverable. Success → `resolved`; a 4xx other
 * than 408/429 → `permanently_failed` with the status; otherwise → `retried`, the n-th retry
 * due base·2^(n−1) after the previous failure, and after `LOCATION_RETRY_MAX` failed retries →
 * `permanently_failed` (`retry-schedule.ts`). An open breaker (or no target right now) gives the row back, not counted
 * as a retry, due again once the breaker may have closed (`LOCATION_BREAKER_RESET_MS`) or, with
 * no target, after `LOCATION_RETRY_BASE_MS`: a released row never comes back the next tick.
 */
@Injectable()
export class RetryWorker implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(RetryWorker.name);
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;

  constructor(
    private readonly ledger: RetryLedgerRepository,
    private readonly delivery: DeliveryService,
    private readonly clock: Clock,
    private readonly events: EventEmitter2,
    @Inject(locationConfig.KEY) private readonly config: LocationConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.workersEnabled) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.tick()
        .catch((error: unknown) => this.logger.warn({ err: error }, 'Retry tick failed'))
        .finally(() => (this.running = null));
    }, this.config.retry.intervalMs);
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** One pass over the due rows; answers how many it handled. */
  async tick(): Promise<number> {
    const leaseMs = this.config.deliveryTimeoutMs * 2 + 30_000;
    const rows = await this.ledger.claimDue(
      this.config.topic,
      this.clock.now(),
      this.config.retry.batch,
      leaseMs,
    );
    await Promise.all(rows.map((row) => this.traced(row)));
    return rows.length;
  }

  /**
   * Each retry is its own trace (it may come hours after the update), with a span link to the
   * dead-lettering that filed the row: its delivery sends this trace's traceparent.
   */
  private traced(row: LedgerRow): Promise<void> {
    return inSpan(
      'location.retry',
      {
        kind: SpanKind.CONSUMER,
        parent: ROOT_CONTEXT,
        links: linksTo(row.traceparent),
        attributes: {
          'tenant.id': row.tenant_id,
          'tessera.retry.count': row.retry_count,
          'tessera.event.id': row.event_id,
        },
      },
      () => this.retry(row),
    );
  }

  private async retry(row: LedgerRow): Promise<void> {
    try {
      const outcome = await this.delivery.deliver(row.payload);
      const now = this.clock.now();
      if (outcome.breakerOpen || outcome.skipped) {
        const pause = outcome.breakerOpen
          ? this.config.breaker.resetTimeoutMs
          : this.config.retry.baseMs;
        await this.ledger.release(row, new Date(now.getTime() + pause));
        return;
      }
      if (outcome.ok) {
        if (await this.ledger.resolve(row, now)) {
          const tenant = tenantLabel(row.tenant_id);
          updatesDelivered.inc({ path: 'retry', tenant_id: tenant });
          ledgerOutcomes.inc({ outcome: 'resolved', tenant_id: tenant });
          emitLifecycleEvent(
            this.events,
            this.logger,
            LOCATION_UPDATE_RESOLVED,
            new LocationResolvedEvent(
              row.tenant_id,
              row.session_id,
              row.event_id,
              row.attempts + 1,
            ),
          );
        }
        return;
      }
      const error = outcome.error ?? 'delivery failed';
      const statusCode = outcome.status ?? null;
      if (!outcome.retryable) {
        await this.fail(row, error, statusCode, true);
        return;
      }
      const next = nextRetryAt(row.retry_count, now, this.config.retry);
      if (!next) {
        await this.fail(row, `retries exhausted: ${error}`, statusCode, true);
      } else if (await this.ledger.retried(row, { now, nextRetryAt: next, error, statusCode })) {
        ledgerOutcomes.inc({ outcome: 'retried', tenant_id: tenantLabel(row.tenant_id) });
      }
    } catch (error) {
      if (isClientAppError(error as Error)) {
        // The tenant is gone (or unknown): nothing will ever take this update.
        await this.fail(row, (error as Error).message, null, false).catch(() => undefined);
        return;
      }
      // The lease runs out and the row is claimed again later.
      this.logger.warn({ err: error, id: row.id }, 'Retry of a ledger row failed');
    }
  }

  private async fail(
    row: LedgerRow,
    reason: string,
    statusCode: number | null,
    attempted: boolean,
  ): Promise<void> {
    const done = await this.ledger.permanentlyFailed(row, {
      now: this.clock.now(),
      error: reason,
      statusCode,
      attempted,
    });
    if (!done) return;
    ledgerOutcomes.inc({ outcome: 'permanently_failed', tenant_id: tenantLabel(row.tenant_id) });
    emitLifecycleEvent(
      this.events,
      this.logger,
      LOCATION_UPDATE_PERMANENTLY_FAILED,
      new LocationPermanentlyFailedEvent(row.tenant_id, row.session_id, row.event_id, reason),
    );
  }
}
