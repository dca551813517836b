import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { messagingConfig, type MessagingConfig } from '../../config';
import { AppError } from '../../shared/errors';
import { RabbitMqService } from '../../shared/rabbitmq';
import { contextOf, inSpan, SpanKind } from '../../shared/telemetry';
import { ConsumerRegistry } from './consumer-registry.service';
import { MessagesRepository } from './messages.repository';
import { relayed, swept } from './messaging.metrics';
import { OutboxService } from './outbox.service';
import { isQueueFull } from './publish-answers';
import { queueNames } from './queue-topology';

const TENANTS_PER_TICK = 100;
const ROWS_PER_TENANT = 200;
const TENANT_FAULT_LOG_INTERVAL_MS = 10 * 60_000;

/**
 * Publishes what was committed but never confirmed (the process died between commit and
 * confirm, the broker was down, the queue was full): outbox rows older than
 * MESSAGING_RELAY_AFTER_MS, swept tenant by tenant. The sweep also gives an outbox row back to
 * messages left `queued`/`processing` past their lease with none (see `sweep`). The sweep of
 * every tenant runs on one instance at a time (the outbox's relay lock); a duplicate is harmless
 * (the claim lease and the row's status keep the handler from running twice).
 */
@Injectable()
export class OutboxRelay implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(OutboxRelay.name);
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private runningPending?: Promise<void>;
  private cursor = 0;
  /** Per tenant: until when a known fault of that tenant is not logged again. */
  private readonly quietUntil = new Map<string, number>();

  constructor(
    @Inject(messagingConfig.KEY) private readonly config: MessagingConfig,
    private readonly rabbit: RabbitMqService,
    private readonly registry: ConsumerRegistry,
    private readonly outbox: OutboxService,
    private readonly repository: MessagesRepository,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.workersEnabled) return;
    this.timer = setInterval(() => {
      // Tenants with a failed publish here: not held up by a long sweep of every tenant.
      this.runningPending ??= this.relayPending()
        .then(() => undefined)
        .catch((err: unknown) => this.logger.warn({ err }, 'Outbox relay failed'))
        .finally(() => (this.runningPending = undefined));
      this.running ??= this.tick()
        .then(() => undefined)
        .catch((err: unknown) => this.logger.warn({ err }, 'Outbox relay tick failed'))
        .finally(() => (this.running = undefined));
    }, this.config.relayIntervalMs);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await Promise.allSettled([this.running, this.runningPending]);
  }

  /** The tenants whose publishes failed on this instance (no lock: a duplicate is harmless). */
  async relayPending(): Promise<number> {
    if (!this.rabbit.connected) return 0;
    let published = 0;
    for (const tenantId of this.outbox.pendingTenants()) {
      const result = await this.relayTenant(tenantId).catch((err: unknown) => {
        this.relayFailed(tenantId, err);
        return -1;
      });
      if (result >= 0) {
        published += result;
        await this.outbox.settle(tenantId);
      }
    }
    return published;
  }

  /**
   * A tenant whose relay failed. A known condition of the tenant itself (its registry entry or
   * database secret gone: an AppError below 500) is logged once per tenant in ten minutes and
   * without a stack, so a sweep every few seconds does not bury the log; anything else each time.
   */
  private relayFailed(tenantId: string, err: unknown): void {
    if (!(err instanceof AppError) || err.status >= 500) {
      this.logger.warn({ err }, `Outbox relay of tenant ${tenantId} failed`);
      return;
    }
    const now = Date.now();
    if (now - (this.quietUntil.get(tenantId) ?? 0) < 0) return;
    this.quietUntil.set(tenantId, now + TENANT_FAULT_LOG_INTERVAL_MS);
    this.logger.warn(
      { code: err.code, tenant_id: tenantId },
      `Outbox relay of tenant ${tenantId} skipped: ${err.message} (logged again in 10 min at most)`,
    );
  }

  /** One step of the sweep of every tenant (one instance at a time); returns how many it published. */
  async tick(): Promise<number> {
    if (!this.rabbit.connected) return 0;
    return (await this.outbox.underRelayLock(() => this.sweepTenants())) ?? 0;
  }

  /** The next tenants in turn (at most TENANTS_PER_TICK): swept, then relayed. */
  private async sweepTenants(): Promise<number> {
    let published = 0;
    const tenants = await this.registry.liveTenants();
    if (!tenants.length) return published;
    const count = Math.min(TENANTS_PER_TICK, tenants.length);
    for (let i = 0; i < count; i++) {
      const tenantId = tenants[(this.cursor + i) % tenants.length];
      published += await this.sweep(tenantId)
        .then(() => this.relayTenant(tenantId))
        .catch((err: unknown) => {
          this.relayFailed(tenantId, err);
          return 0;
        });
    }
    this.cursor = (this.cursor + count) % tenants.length;
    return published;
  }

  /**
   * Gives an outbox row back to messages left `queued`/`processing` past their lease with none,
   * so the relay publishes them again: a retry the broker dropped, a message whose worker died
   * after another delivery of it was acked as a duplicate. `processing` ones always (the lease
   * says nobody runs them); `queued` ones only while their work queue holds no ready message
   * (else they may be among them: a backlog is not a loss). Returns how many it gave back.
   */
  async sweep(tenantId: string): Promise<number> {
    const rule = { leaseMs: this.config.claimLeaseMs, retryDelaysMs: this.config.retryDelaysMs };
    const candidates = await this.repository.stuckQueues(tenantId, rule);
    if (!candidates.length) return 0;
    const idle: string[] = [];
    for (const { queue_name: queueName, queued } of candidates) {
      if (queued && (await this.readyMessages(tenantId, queueName)) === 0) idle.push(queueName);
    }
    const count = await this.repository.requeueStuck(
      tenantId,
      rule,
      idle,
      ROWS_PER_TENANT,
      // Dated back past the relay's age: relayed by this same pass.
      this.config.relayAfterMs + 1_000,
    );
    if (count) {
      swept.inc(count);
      this.logger.warn(
        `Swept ${count} message(s) of tenant ${tenantId} left queued/processing past their lease with no publish pending; relaying them`,
      );
    }
    return count;
  }

  /** Ready messages in a tenant queue's work queue (null when it cannot be known now). */
  private async readyMessages(tenantId: string, queueName: string): Promise<number | null> {
    try {
      // Declared first: checking a queue that does not exist would close the shared channel.
      await this.registry.ensureQueue(tenantId, queueName);
      const { main } = queueNames(tenantId, queueName, this.config.retryDelaysMs);
      return await this.rabbit.withChannel(
        async (channel) => (await channel.checkQueue(main)).messageCount,
      );
    } catch (err) {
      this.logger.debug({ err }, `Depth of ${tenantId}/${queueName} unknown; not swept now`);
      return null;
    }
  }

  async relayTenant(tenantId: string): Promise<number> {
    let published = 0;
    // Queues that refused a publish for want of room: their rows wait for a later pass, and
    // the next page skips them so they hold up no other queue of the tenant.
    const full = new Set<string>();
    for (let page = 0; page < 3; page++) {
      const rows = await this.repository.dueOutbox(
        tenantId,
        this.config.relayAfterMs,
        ROWS_PER_TENANT,
        [...full],
      );
      const fullBefore = full.size;
      for (const row of rows) {
        if (row.status !== 'queued') {
          // Published (a worker has it) or gone: only the outbox row was left behind.
          await this.repository.deleteOutbox(tenantId, row.message_id);
          continue;
        }
        if (full.has(row.queue_name)) continue;
        await this.registry.ensureQueue(tenantId, row.queue_name);
        try {
          // Continues the trace of the request that stored the message.
          await inSpan(
            'messaging.relay',
            {
              kind: SpanKind.PRODUCER,
              parent: contextOf(row.traceparent),
              attributes: { 'tenant.id': tenantId, 'messaging.message.id': row.message_id },
            },
            () => this.outbox.publish(tenantId, row.message_id, row.queue_name),
          );
        } catch (err) {
          if (!isQueueFull(err)) throw err;
          full.add(row.queue_name);
          continue;
        }
        published++;
        relayed.inc();
      }
      if (rows.length < ROWS_PER_TENANT || full.size === fullBefore) break;
    }
    if (published) this.logger.log(`Relayed ${published} message(s) of tenant ${tenantId}`);
    if (full.size)
      this.logger.debug(
        `Tenant ${tenantId}: queues full for now, relayed later: ${[...full].join(', ')}`,
      );
    return published;
  }
}
