import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { eventsConfig, type EventsConfig } from '../../config';
import { BatcherFullError, exponentialDelay, NaturalBatcher } from '../../shared/batching';
import { AppError } from '../../shared/errors';
import { runInTenantContext } from '../../shared/tenant-context';
import {
  SESSION_CREATED,
  SESSION_REVOKED,
  USER_ADDED,
  USER_REMOVED,
  USER_ROLE_CHANGED,
} from '../auth';
import {
  LOCATION_SESSION_ENDED,
  LOCATION_SESSION_STARTED,
  LOCATION_UPDATE_DEAD_LETTERED,
  LOCATION_UPDATE_DELIVERED,
  LOCATION_UPDATE_PERMANENTLY_FAILED,
  LOCATION_UPDATE_RESOLVED,
} from '../location';
import {
  MESSAGING_MESSAGE_FAILED,
  MESSAGING_MESSAGE_PROCESSED,
  MESSAGING_QUEUE_SCALED,
} from '../messaging';
import { API_KEY_ISSUED, API_KEY_REVOKED, TENANT_AUDIT_RECORDED, TENANT_UPDATED } from '../tenancy';
import { EventsBus, type LiveOnlyEvent } from './feed/events-bus';
import { EventsService, type NewEvent } from './events.service';
import { feedFactsDropped, feedFlushRetries, feedSources } from './events.metrics';
import { tenantLabel } from '../../shared/metrics';

/** Lifecycle event (the names the other modules export) → the feed's source and event_type (docs/events.md). */
export const LIFECYCLE_FEED: Record<string, { source: string; eventType: string }> = {
  [TENANT_UPDATED]: { source: 'tenancy', eventType: 'tenant.updated' },
  [API_KEY_ISSUED]: { source: 'tenancy', eventType: 'api_key.issued' },
  [API_KEY_REVOKED]: { source: 'tenancy', eventType: 'api_key.revoked' },
  [USER_ADDED]: { source: 'tenancy', eventType: 'user.added' },
  [USER_REMOVED]: { source: 'tenancy', eventType: 'user.removed' },
  [USER_ROLE_CHANGED]: { source: 'tenancy', eventType: 'user.role_changed' },
  [SESSION_CREATED]: { source: 'auth', eventType: 'session.created' },
  [SESSION_REVOKED]: { source: 'auth', eventType: 'session.revoked' },
  [LOCATION_SESSION_STARTED]: { source: 'location', eventType: 'session.started' },
  [LOCATION_SESSION_ENDED]: { source: 'location', eventType: 'session.ended' },
  [LOCATION_UPDATE_DELIVERED]: { source: 'location', eventType: 'location.delivered' },
  [LOCATION_UPDATE_DEAD_LETTERED]: { source: 'location', eventType: 'location.dead_lettered' },
  [LOCATION_UPDATE_RESOLVED]: { source: 'location', eventType: 'location.resolved' },
  [LOCATION_UPDATE_PERMANENTLY_FAILED]: {
    source: 'location',
    eventType: 'location.permanently_failed',
  },
  [MESSAGING_MESSAGE_PROCESSED]: { source: 'messaging', eventType: 'message.processed' },
  [MESSAGING_MESSAGE_FAILED]: { source: 'messaging', eventType: 'message.failed' },
  [MESSAGING_QUEUE_SCALED]: { source: 'messaging', eventType: 'queue.scaled' },
  [TENANT_AUDIT_RECORDED]: { source: 'audit', eventType: 'audit.recorded' },
};
/**
 * Facts for the tenant's owners only, pushed live (never stored in the feed, which every member
 * and API key reads): the audit trail, kept in its own table and read at GET /tenant/audit.
 */
const OWNERS_ONLY = new Set<string>([TENANT_AUDIT_RECORDED]);
/**
 * Facts as frequent as the traffic, pushed live only unless their flag asks to store them
 * (EVENTS_STORE_LOCATION_DELIVERED, EVENTS_STORE_MESSAGE_PROCESSED): storing one feed row per
 * update or message would double the database writes of the work it reports.
 */
const HIGH_VOLUME: Record<string, (config: EventsConfig) => boolean> = {
  [LOCATION_UPDATE_DELIVERED]: (config) => config.storeLocationDelivered,
  [MESSAGING_MESSAGE_PROCESSED]: (config) => config.storeMessageProcessed,
};
const MAX_BATCH = 200;
const TENANT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const WARN_EVERY_MS = 10_000;

/**
 * How much the feed holds while its writes are slow or failing, and how long it keeps trying:
 * beyond a bound a fact is dropped at once (and counted in tessera_feed_facts_dropped_total), so a
 * tenant whose database is down costs a bounded amount of memory and never delays another tenant.
 */
export const FEED_BOUNDS = {
  /** Facts of one tenant waiting to be stored or pushed. */
  maxHeldPerTenant: 1_000,
  /** Facts of all tenants together (stored facts and live-only facts, each). */
  maxHeld: 20_000,
  /** Tries of one batch in all: the waits between them (100 ms doubling, 5 s at most) add up to about 11 s. */
  attempts: 8,
  retryDelayMs: exponentialDelay(100, 5_000),
};

/** The payload's fields but the tenant, in snake_case, Dates as RFC 3339. */
export function metadataOf(payload: object): Record<string, unknown> {
  const metadata: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(payload)) {
    if (key === 'tenantId' || typeof value === 'function') continue;
    const name = key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    metadata[name] = value instanceof Date ? value.toISOString() : value;
  }
  return metadata;
}

/**
 * Turns the other modules' lifecycle events (by the names those modules export) into the
 * tenant's feed: stored with `source` = the module and pushed,
 * or, for high-volume facts, pushed live only. Listeners never throw into the producer and never
 * make it wait: facts are batched per tenant (what arrives while a tenant's batch is written joins
 * the next one), a failed batch is tried again with backoff, and what exceeds FEED_BOUNDS is
 * dropped and counted, never held without limit.
 */
@Injectable()
export class LifecycleFeedListener implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(LifecycleFeedListener.name);
  private readonly listeners: Array<[string, (payload: unknown) => void]> = [];
  private lastLimitWarning = 0;
  private lastFailureWarning = 0;
  /** Per tenant, one batch at a time: a slow or failing tenant waits alone, others go on. */
  private readonly stored = new NaturalBatcher<NewEvent, void>({
    maxBatchSize: MAX_BATCH,
    maxHeldPerGroup: FEED_BOUNDS.maxHeldPerTenant,
    maxHeld: FEED_BOUNDS.maxHeld,
    retry: {
      attempts: FEED_BOUNDS.attempts,
      delayMs: FEED_BOUNDS.retryDelayMs,
      // A refusal (an unknown or deleted tenant) stays one; anything else may pass.
      retryable: (error) => !(error instanceof AppError && error.status < 500),
      onRetry: (tenantId, error, attempt, size) => {
        feedFlushRetries.inc({ tenant_id: tenantLabel(tenantId) });
        this.logger.debug({ err: error, tenantId, attempt }, `${size} lifecycle facts: retrying`);
      },
    },
    run: async (tenantId, facts) => {
      await runInTenantContext(
        { transport: 'internal', principal: { tenantId, isPlatformAdmin: false, via: 'message' } },
        () => this.events.ingest(tenantId, [...facts]),
      );
      return facts.map(() => undefined);
    },
  });
  /** Live-only facts: published on the bus (which never throws), with the same bounds. */
  private readonly live = new NaturalBatcher<LiveOnlyEvent, void>({
    maxBatchSize: MAX_BATCH,
    maxHeldPerGroup: FEED_BOUNDS.maxHeldPerTenant,
    maxHeld: FEED_BOUNDS.maxHeld,
    run: async (tenantId, facts) => {
      await this.bus.publish(tenantId, [...facts]);
      return facts.map(() => undefined);
    },
  });

  constructor(
    private readonly events: EventsService,
    private readonly bus: EventsBus,
    private readonly emitter: EventEmitter2,
    @Inject(eventsConfig.KEY) private readonly config: EventsConfig,
  ) {
    feedSources.add(this);
  }

  onModuleInit(): void {
    for (const name of Object.keys(LIFECYCLE_FEED)) {
      const listener = (payload: unknown) => this.record(name, payload);
      this.emitter.on(name, listener);
      this.listeners.push([name, listener]);
    }
  }

  /** Facts accepted and not yet stored (or pushed) nor dropped. */
  heldCount(): number {
    return this.stored.held() + this.live.held();
  }

  /** Queues one fact of the named lifecycle event. */
  record(eventName: string, payload: unknown): void {
    try {
      const mapping = LIFECYCLE_FEED[eventName];
      if (!mapping || !payload || typeof payload !== 'object') return;
      const tenantId = (payload as { tenantId?: unknown }).tenantId;
      if (typeof tenantId !== 'string' || !TENANT_ID.test(tenantId)) return; // platform sessions have none
      const metadata = metadataOf(payload);
      const ownersOnly = OWNERS_ONLY.has(eventName);
      if (ownersOnly || (HIGH_VOLUME[eventName] && !HIGH_VOLUME[eventName](this.config))) {
        const now = new Date().toISOString();
        const fact: LiveOnlyEvent = {
          id: null,
          seq: null,
          tenant_id: tenantId,
          event_type: mapping.eventType,
          source: mapping.source,
          timestamp: now,
          metadata,
          created_at: now,
          ...(ownersOnly ? { audience: 'owners' as const } : {}),
        };
        this.live.load(tenantId, fact).catch((error: unknown) => this.dropped(tenantId, error));
      } else {
        const fact: NewEvent = { event_type: mapping.eventType, source: mapping.source, metadata };
        this.stored.load(tenantId, fact).catch((error: unknown) => this.dropped(tenantId, error));
      }
    } catch (error) {
      this.logger.warn({ err: error }, 'Lifecycle fact not recorded');
    }
  }

  /** Stops listening, gives a batch waiting for its retry one last try, and waits for the rest. */
  async onApplicationShutdown(): Promise<void> {
    for (const [name, listener] of this.listeners) this.emitter.off(name, listener);
    this.stored.close();
    this.live.close();
    await Promise.all([this.stored.idle(), this.live.idle()]);
    feedSources.delete(this);
  }

  private dropped(tenantId: string, error: unknown): void {
    if (error instanceof BatcherFullError) {
      feedFactsDropped.inc({
        reason: error.scope === 'group' ? 'tenant_limit' : 'total_limit',
        tenant_id: tenantLabel(tenantId),
      });
      const now = Date.now();
      if (now - this.lastLimitWarning < WARN_EVERY_MS) return;
      this.lastLimitWarning = now;
      this.logger.warn(
        { tenantId, held: this.heldCount() },
        `Lifecycle facts dropped: the feed holds as many as it may (${error.message})`,
      );
      return;
    }
    feedFactsDropped.inc({ reason: 'failed', tenant_id: tenantLabel(tenantId) });
    // Every fact of a failed batch lands here: one line a second is enough.
    const now = Date.now();
    if (now - this.lastFailureWarning < 1_000) return;
    this.lastFailureWarning = now;
    this.logger.warn({ err: error, tenantId }, 'Lifecycle facts not stored after every attempt');
  }
}
