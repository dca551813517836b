import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { messagingConfig, type MessagingConfig } from '../../config';
import { RabbitMqService } from '../../shared/rabbitmq';
import { RedisService } from '../../shared/redis';
import { TenantDatabase } from '../tenancy';
import { ConsumerRegistry } from './consumer-registry.service';
import { MessagesService } from './messages.service';
import { relayed } from './messaging.metrics';

const TENANTS_PER_TICK = 100;
const ROWS_PER_TENANT = 200;

interface OutboxRow {
  message_id: string;
  queue_name: string;
  status: string | null;
}

/**
 * Publishes what was committed but never confirmed (the process died between commit and
 * confirm, or the broker was down): outbox rows older than MESSAGING_RELAY_AFTER_MS, swept
 * tenant by tenant. One instance at a time (a Redis lock); a duplicate is harmless (the worker
 * acks a message it already processed).
 */
@Injectable()
export class OutboxRelay implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(OutboxRelay.name);
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private runningPending?: Promise<void>;
  private cursor = 0;
  private readonly lockKey: string;

  constructor(
    @Inject(messagingConfig.KEY) private readonly config: MessagingConfig,
    private readonly tenantDb: TenantDatabase,
    private readonly rabbit: RabbitMqService,
    private readonly redis: RedisService,
    private readonly registry: ConsumerRegistry,
    private readonly messages: MessagesService,
  ) {
    this.lockKey = redis.key('messaging:relay-lock');
  }

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

  /** One sweep step; returns how many messages it published. */
  /** The tenants whose publishes failed on this instance (no lock: a duplicate is harmless). */
  async relayPending(): Promise<number> {
    if (!this.rabbit.connected) return 0;
    let published = 0;
    for (const tenantId of [...this.registry.pendingOutbox]) {
      const result = await this.relayTenant(tenantId).catch((err: unknown) => {
        this.logger.warn({ err }, `Outbox relay of tenant ${tenantId} failed`);
        return -1;
      });
      if (result >= 0) {
        published += result;
        if (!(await this.hasOutbox(tenantId))) this.registry.pendingOutbox.delete(tenantId);
      }
    }
    return published;
  }

  /** One step of the sweep of every tenant (one instance at a time). */
  async tick(): Promise<number> {
    if (!this.rabbit.connected) return 0;
    let published = 0;
    const lock = await this.redis.client
      .set(this.lockKey, this.registry.instanceId, 'PX', this.config.relayIntervalMs * 5, 'NX')
      .catch(() => 'OK');
    if (lock !== 'OK') return published;
    try {
      const tenants = await this.registry.liveTenants();
      if (!tenants.length) return published;
      const count = Math.min(TENANTS_PER_TICK, tenants.length);
      for (let i = 0; i < count; i++) {
        const tenantId = tenants[(this.cursor + i) % tenants.length];
        published += await this.relayTenant(tenantId).catch((err: unknown) => {
          this.logger.warn({ err }, `Outbox relay of tenant ${tenantId} failed`);
          return 0;
        });
      }
      this.cursor = (this.cursor + count) % tenants.length;
    } finally {
      await this.redis.client.del(this.lockKey).catch(() => undefined);
    }
    return published;
  }

  private async hasOutbox(tenantId: string): Promise<boolean> {
    const rows: unknown[] = await this.tenantDb.runFor(tenantId, (m) =>
      m.query(`select 1 from message_outbox limit 1`),
    );
    return rows.length > 0;
  }

  async relayTenant(tenantId: string): Promise<number> {
    const rows: OutboxRow[] = await this.tenantDb.runFor(tenantId, (m) =>
      m.query(
        `select o.message_id, o.queue_name, m.status from message_outbox o
           left join messages m on m.tenant_id = $3 and m.id = o.message_id
          where o.created_at < now() - make_interval(secs => $1::float8 / 1000)
          order by o.created_at limit $2`,
        [this.config.relayAfterMs, ROWS_PER_TENANT, tenantId],
      ),
    );
    let published = 0;
    for (const row of rows) {
      if (row.status !== 'queued') {
        // Published (a worker has it) or gone: only the outbox row was left behind.
        await this.tenantDb.runFor(tenantId, (m) =>
          m.query(`delete from message_outbox where message_id = $1`, [row.message_id]),
        );
        continue;
      }
      await this.messages.ensureQueue(tenantId, row.queue_name);
      await this.messages.publishStored(tenantId, row.message_id, row.queue_name);
      published++;
      relayed.inc();
    }
    if (published) this.logger.log(`Relayed ${published} message(s) of tenant ${tenantId}`);
    return published;
  }
}
