import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { messagingConfig, type MessagingConfig } from '../../config';
import { AppError } from '../../shared/errors';
import { RabbitMqService } from '../../shared/rabbitmq';
import { RedisService } from '../../shared/redis';
import { TenantDatabase } from '../tenancy';
import { ConsumerRegistry } from './consumer-registry.service';
import { MessagesService } from './messages.service';
import { relayed, swept } from './messaging.metrics';
import { queueNames } from './queue-topology';

const TENANTS_PER_TICK = 100;
const ROWS_PER_TENANT = 200;

/** Deletes the lock only while it holds this holder's token: once expired it may be another's. */
const RELEASE_LOCK = `if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0`;

/**
 * A live row with no outbox row, past its lease ($2 ms): `processing` since its claim, `queued`
 * since its last change plus the delay of its retry step ($3, the configured delays) — a
 * queued row with attempts waits in a delay queue that long before it is due again.
 */
const STUCK = `m.tenant_id = $1 and m.status in ('queued', 'processing')
  and not exists (select 1 from message_outbox o where o.tenant_id = $1 and o.message_id = m.id)
  and case when m.status = 'processing'
        then coalesce(m.claimed_at, m.updated_at) < now() - make_interval(secs => $2::float8 / 1000)
        else m.updated_at < now() - make_interval(secs => ($2::float8
          + coalesce(($3::int[])[least(m.attempts, cardinality($3::int[]))], 0)) / 1000)
      end`;

interface OutboxRow {
  message_id: string;
  queue_name: string;
  status: string | null;
}

/**
 * Publishes what was committed but never confirmed (the process died between commit and
 * confirm, the broker was down, the queue was full): outbox rows older than
 * MESSAGING_RELAY_AFTER_MS, swept tenant by tenant. The sweep also gives an outbox row back to
 * messages left `queued`/`processing` past their lease with none (see `sweep`). One instance at
 * a time (a Redis lock, released only by its holder); a duplicate is harmless (the claim lease
 * and the row's status keep the handler from running twice).
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

  /** One step of the sweep of every tenant (one instance at a time); returns how many it published. */
  async tick(): Promise<number> {
    if (!this.rabbit.connected) return 0;
    let published = 0;
    // A token of this tick's own: the release deletes the lock only if it is still this one.
    const token = `${this.registry.instanceId}/${randomUUID()}`;
    const lock = await this.redis.client
      .set(this.lockKey, token, 'PX', this.config.relayIntervalMs * 5, 'NX')
      .catch(() => 'OK');
    if (lock !== 'OK') return published;
    try {
      const tenants = await this.registry.liveTenants();
      if (!tenants.length) return published;
      const count = Math.min(TENANTS_PER_TICK, tenants.length);
      for (let i = 0; i < count; i++) {
        const tenantId = tenants[(this.cursor + i) % tenants.length];
        published += await this.sweep(tenantId)
          .then(() => this.relayTenant(tenantId))
          .catch((err: unknown) => {
            this.logger.warn({ err }, `Outbox relay of tenant ${tenantId} failed`);
            return 0;
          });
      }
      this.cursor = (this.cursor + count) % tenants.length;
    } finally {
      await this.redis.client.eval(RELEASE_LOCK, 1, this.lockKey, token).catch(() => undefined);
    }
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
    const stuck = [tenantId, this.config.claimLeaseMs, this.config.retryDelaysMs];
    const candidates: Array<{ queue_name: string; queued: boolean }> = await this.tenantDb.runFor(
      tenantId,
      (m) =>
        m.query(
          `select m.queue_name, bool_or(m.status = 'queued') as queued
             from messages m where ${STUCK} group by m.queue_name`,
          stuck,
        ),
    );
    if (!candidates.length) return 0;
    const idle: string[] = [];
    for (const { queue_name: queueName, queued } of candidates) {
      if (queued && (await this.readyMessages(tenantId, queueName)) === 0) idle.push(queueName);
    }
    const rows: unknown[] = await this.tenantDb.runFor(tenantId, (m) =>
      m.query(
        `with stuck as (
           select m.id from messages m
            where ${STUCK} and (m.status = 'processing' or m.queue_name = any($4::text[]))
            order by m.updated_at limit $5
              for update of m skip locked
         ), requeued as (
           update messages m set status = 'queued', updated_at = now()
             from stuck s where m.tenant_id = $1 and m.id = s.id
           returning m.id, m.queue_name
         )
         insert into message_outbox (message_id, queue_name, created_at)
         select id, queue_name, now() - make_interval(secs => $6::float8 / 1000) from requeued
         on conflict do nothing
         returning message_id`,
        // Dated back past the relay's age: relayed by this same pass.
        [...stuck, idle, ROWS_PER_TENANT, this.config.relayAfterMs + 1_000],
      ),
    );
    if (rows.length) {
      swept.inc(rows.length);
      this.logger.warn(
        `Swept ${rows.length} message(s) of tenant ${tenantId} left queued/processing past their lease with no publish pending; relaying them`,
      );
    }
    return rows.length;
  }

  /** Ready messages in a tenant queue's work queue (null when it cannot be known now). */
  private async readyMessages(tenantId: string, queueName: string): Promise<number | null> {
    try {
      // Declared first: checking a queue that does not exist would close the shared channel.
      await this.messages.ensureQueue(tenantId, queueName);
      const { main } = queueNames(tenantId, queueName, this.config.retryDelaysMs);
      return await this.rabbit.withChannel(
        async (channel) => (await channel.checkQueue(main)).messageCount,
      );
    } catch (err) {
      this.logger.debug({ err }, `Depth of ${tenantId}/${queueName} unknown; not swept now`);
      return null;
    }
  }

  private async hasOutbox(tenantId: string): Promise<boolean> {
    const rows: unknown[] = await this.tenantDb.runFor(tenantId, (m) =>
      m.query(`select 1 from message_outbox limit 1`),
    );
    return rows.length > 0;
  }

  async relayTenant(tenantId: string): Promise<number> {
    let published = 0;
    // Queues that refused a publish for want of room: their rows wait for a later pass, and
    // the next page skips them so they hold up no other queue of the tenant.
    const full = new Set<string>();
    for (let page = 0; page < 3; page++) {
      const rows: OutboxRow[] = await this.tenantDb.runFor(tenantId, (m) =>
        m.query(
          `select o.message_id, o.queue_name, m.status from message_outbox o
             left join messages m on m.tenant_id = $3 and m.id = o.message_id
            where o.created_at < now() - make_interval(secs => $1::float8 / 1000)
              and o.queue_name <> all($4::text[])
            order by o.created_at limit $2`,
          [this.config.relayAfterMs, ROWS_PER_TENANT, tenantId, [...full]],
        ),
      );
      const fullBefore = full.size;
      for (const row of rows) {
        if (row.status !== 'queued') {
          // Published (a worker has it) or gone: only the outbox row was left behind.
          await this.tenantDb.runFor(tenantId, (m) =>
            m.query(`delete from message_outbox where message_id = $1`, [row.message_id]),
          );
          continue;
        }
        if (full.has(row.queue_name)) continue;
        await this.messages.ensureQueue(tenantId, row.queue_name);
        try {
          await this.messages.publishStored(tenantId, row.message_id, row.queue_name);
        } catch (err) {
          if (!(err instanceof AppError && err.code === 'MESSAGING.QUEUE_FULL')) throw err;
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
