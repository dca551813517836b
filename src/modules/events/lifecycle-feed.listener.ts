import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { eventsConfig, type EventsConfig } from '../../config';
import { runInTenantContext } from '../../shared/tenant-context';
import { EventsBus, type LiveOnlyEvent } from './events-bus';
import { EventsService, type NewEvent } from './events.service';

/** In-process lifecycle event name → the feed's source and event_type (docs/events.md). */
export const LIFECYCLE_FEED: Record<string, { source: string; eventType: string }> = {
  'tenancy.tenant.updated': { source: 'tenancy', eventType: 'tenant.updated' },
  'tenancy.api_key.issued': { source: 'tenancy', eventType: 'api_key.issued' },
  'tenancy.api_key.revoked': { source: 'tenancy', eventType: 'api_key.revoked' },
  'auth.user.added': { source: 'tenancy', eventType: 'user.added' },
  'auth.user.removed': { source: 'tenancy', eventType: 'user.removed' },
  'auth.user.role_changed': { source: 'tenancy', eventType: 'user.role_changed' },
  'auth.session.created': { source: 'auth', eventType: 'session.created' },
  'auth.session.revoked': { source: 'auth', eventType: 'session.revoked' },
  'location.session.started': { source: 'location', eventType: 'session.started' },
  'location.session.ended': { source: 'location', eventType: 'session.ended' },
  'location.update.delivered': { source: 'location', eventType: 'location.delivered' },
  'location.update.dead_lettered': { source: 'location', eventType: 'location.dead_lettered' },
  'location.update.resolved': { source: 'location', eventType: 'location.resolved' },
  'location.update.permanently_failed': {
    source: 'location',
    eventType: 'location.permanently_failed',
  },
  'messaging.message.processed': { source: 'messaging', eventType: 'message.processed' },
  'messaging.message.failed': { source: 'messaging', eventType: 'message.failed' },
  'messaging.queue.scaled': { source: 'messaging', eventType: 'queue.scaled' },
};
/**
 * Facts as frequent as the traffic, pushed live only unless their flag asks to store them
 * (EVENTS_STORE_LOCATION_DELIVERED, EVENTS_STORE_MESSAGE_PROCESSED): storing one feed row per
 * update or message would double the database writes of the work it reports.
 */
const HIGH_VOLUME: Record<string, (config: EventsConfig) => boolean> = {
  'location.update.delivered': (config) => config.storeLocationDelivered,
  'messaging.message.processed': (config) => config.storeMessageProcessed,
};
const FLUSH_MS = 20;
const MAX_BATCH = 200;
const TENANT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

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
 * Turns the other modules' lifecycle events (by their string names, so a missing producer
 * class breaks nothing) into the tenant's feed: stored with `source` = the module and pushed,
 * or, for high-volume facts, pushed live only. Listeners never throw into the producer and never
 * make it wait: facts are batched per tenant and written a few ms later.
 */
@Injectable()
export class LifecycleFeedListener implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(LifecycleFeedListener.name);
  private readonly stored = new Map<string, NewEvent[]>();
  private readonly live = new Map<string, LiveOnlyEvent[]>();
  private timer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();
  private readonly listeners: Array<[string, (payload: unknown) => void]> = [];

  constructor(
    private readonly events: EventsService,
    private readonly bus: EventsBus,
    private readonly emitter: EventEmitter2,
    @Inject(eventsConfig.KEY) private readonly config: EventsConfig,
  ) {}

  onModuleInit(): void {
    for (const name of Object.keys(LIFECYCLE_FEED)) {
      const listener = (payload: unknown) => this.record(name, payload);
      this.emitter.on(name, listener);
      this.listeners.push([name, listener]);
    }
  }

  /** Queues one fact of the named lifecycle event. */
  record(eventName: string, payload: unknown): void {
    try {
      const mapping = LIFECYCLE_FEED[eventName];
      if (!mapping || !payload || typeof payload !== 'object') return;
      const tenantId = (payload as { tenantId?: unknown }).tenantId;
      if (typeof tenantId !== 'string' || !TENANT_ID.test(tenantId)) return; // platform sessions have none
      const metadata = metadataOf(payload);
      if (HIGH_VOLUME[eventName] && !HIGH_VOLUME[eventName](this.config)) {
        const now = new Date().toISOString();
        push(this.live, tenantId, {
          id: null,
          seq: null,
          tenant_id: tenantId,
          event_type: mapping.eventType,
          source: mapping.source,
          timestamp: now,
          metadata,
          created_at: now,
        });
      } else {
        push(this.stored, tenantId, {
          event_type: mapping.eventType,
          source: mapping.source,
          metadata,
        });
      }
      this.timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
    } catch (error) {
      this.logger.warn({ err: error }, 'Lifecycle fact not recorded');
    }
  }

  onApplicationShutdown(): Promise<void> {
    for (const [name, listener] of this.listeners) this.emitter.off(name, listener);
    clearTimeout(this.timer);
    return this.flush();
  }

  private flush(): Promise<void> {
    this.timer = undefined;
    // What has gathered is taken when the previous flush has ended: a busy database gets fewer,
    // larger batches instead of a queue of small ones.
    const work = async () => {
      const stored = [...this.stored.entries()];
      const live = [...this.live.entries()];
      this.stored.clear();
      this.live.clear();
      await Promise.all([
        ...stored.flatMap(([tenantId, facts]) =>
          chunks(facts, MAX_BATCH).map((batch) =>
            runInTenantContext(
              {
                transport: 'internal',
                principal: { tenantId, isPlatformAdmin: false, via: 'message' },
              },
              () => this.events.ingest(tenantId, batch),
            ).catch((error: unknown) =>
              this.logger.warn(
                { err: error, tenantId },
                `${batch.length} lifecycle facts not stored`,
              ),
            ),
          ),
        ),
        ...live.map(([tenantId, facts]) => this.bus.publish(tenantId, facts)),
      ]);
    };
    this.flushing = this.flushing.then(work, work);
    return this.flushing;
  }
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
