import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { messagingConfig, type MessagingConfig } from '../../config';
import type { AppError } from '../../shared/errors';
import { PublishNackedError, PublishUnroutableError, RabbitMqService } from '../../shared/rabbitmq';
import { RedisService } from '../../shared/redis';
import { TENANT_HEADER } from '../../shared/tenant-context';
import { ConsumerRegistry } from './consumer-registry.service';
import { MessagesRepository } from './messages.repository';
import { notConfirmedError, queueFullError } from './publish-answers';
import { queueNames } from './queue-topology';
import { WorkerDbSlots } from './worker-db-slots';

/** Deletes the lock only while it holds this holder's token: once expired it may be another's. */
const RELEASE_LOCK = `if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0`;

/**
 * The outbox (`message_outbox`): a committed message keeps its entry until the broker confirmed
 * it. This service publishes a committed message and clears its entry after the confirm
 * (batched), keeps the tenants whose publish failed on this instance (the relay looks at them
 * first), and holds the relay's lock (one sweep of every tenant at a time, across instances).
 */
@Injectable()
export class OutboxService implements OnApplicationShutdown {
  private readonly logger = new Logger(OutboxService.name);
  private readonly confirmed = new Map<string, string[]>();
  private flushTimer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();
  /** Tenants with a publish this instance could not confirm. */
  private readonly pending = new Set<string>();
  private readonly lockKey: string;

  constructor(
    @Inject(messagingConfig.KEY) private readonly config: MessagingConfig,
    private readonly rabbit: RabbitMqService,
    private readonly redis: RedisService,
    private readonly registry: ConsumerRegistry,
    private readonly repository: MessagesRepository,
    private readonly slots: WorkerDbSlots,
  ) {
    this.lockKey = redis.key('messaging:relay-lock');
  }

  /**
   * Publishes a committed message and clears its outbox row. On any failure the row stays
   * `queued` with its outbox row (the relay publishes it later) and the error says so: a full
   * queue (the broker's nack) is a 429, anything else a 503, both naming the stored message.
   */
  async publish(tenantId: string, id: string, queueName: string): Promise<void> {
    if (!this.rabbit.connected) {
      this.markPending(tenantId);
      throw this.notConfirmed(id);
    }
    const names = queueNames(tenantId, queueName, this.config.retryDelaysMs);
    try {
      await this.rabbit.publish('', names.main, Buffer.from(JSON.stringify({ id })), {
        messageId: id,
        mandatory: true,
        // The relay publishes outside a request: the tenant is named here (checked against the context).
        headers: { [TENANT_HEADER]: tenantId },
        timeout: this.config.publishTimeoutMs,
      });
    } catch (err) {
      if (err instanceof PublishNackedError) {
        // Transient: the queue has no room now. The message waits in the outbox, not failed.
        this.markPending(tenantId);
        throw queueFullError(id, queueName);
      }
      if (err instanceof PublishUnroutableError) this.registry.forget(tenantId, queueName);
      this.markPending(tenantId);
      throw this.notConfirmed(id, err);
    }
    this.clear(tenantId, id);
  }

  /** The answer for a stored message that was not published: relayed later (429 or 503). */
  notConfirmed(id: string, cause?: unknown): AppError {
    const error = notConfirmedError(id, cause);
    if (cause && error !== cause)
      this.logger.warn({ err: cause }, `Message ${id} not confirmed; the relay will publish it`);
    return error;
  }

  /** A publish of this tenant was not confirmed here: the relay looks at it first. */
  markPending(tenantId: string): void {
    this.pending.add(tenantId);
  }

  /** The tenants with a publish not confirmed here (a copy: the relay settles them as it goes). */
  pendingTenants(): string[] {
    return [...this.pending];
  }

  /** A tenant leaves the pending set once it has no outbox row left. */
  async settle(tenantId: string): Promise<void> {
    if (!(await this.repository.hasOutbox(tenantId))) this.pending.delete(tenantId);
  }

  /**
   * Runs `work` holding the relay lock (Redis, a token of this holder's own, released by
   * compare-and-delete); null when another instance holds it. Redis unreachable: the work runs
   * (a duplicate publish is harmless, a missed one is not).
   */
  async underRelayLock<T>(work: () => Promise<T>): Promise<T | null> {
    const token = `${this.registry.instanceId}/${randomUUID()}`;
    const lock = await this.redis.client
      .set(this.lockKey, token, 'PX', this.config.relayIntervalMs * 5, 'NX')
      .catch(() => 'OK');
    if (lock !== 'OK') return null;
    try {
      return await work();
    } finally {
      await this.redis.client.eval(RELEASE_LOCK, 1, this.lockKey, token).catch(() => undefined);
    }
  }

  /**
   * Confirmed: its outbox row goes, in batches (one statement per tenant at most every 250 ms).
   * A row left by a crash is harmless: the relay publishes it again and the worker acks the
   * duplicate.
   */
  private clear(tenantId: string, id: string): void {
    let ids = this.confirmed.get(tenantId);
    if (!ids) this.confirmed.set(tenantId, (ids = []));
    ids.push(id);
    this.flushTimer ??= setTimeout(
      () => void this.flush(),
      // Well inside the relay's age: a confirmed row is never republished for want of its clear.
      Math.min(250, this.config.relayAfterMs / 4),
    );
  }

  /** One flush at a time, taking what has gathered when it starts: load makes batches larger. */
  flush(): Promise<void> {
    this.flushTimer = undefined;
    const work = () => {
      const batches = [...this.confirmed.entries()];
      this.confirmed.clear();
      return Promise.all(
        // Shared slots: a flush of many tenants does not take every connection at once.
        batches.map(([tenantId, ids]) =>
          this.slots
            .run(() => this.repository.clearOutbox(tenantId, ids))
            .catch((err: unknown) =>
              this.logger.warn({ err }, `Outbox rows of tenant ${tenantId} not cleared`),
            ),
        ),
      ).then(() => undefined);
    };
    this.flushing = this.flushing.then(work, work);
    return this.flushing;
  }

  async onApplicationShutdown(): Promise<void> {
    clearTimeout(this.flushTimer);
    await this.flush();
  }
}
