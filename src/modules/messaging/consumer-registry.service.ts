import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { messagingConfig, type MessagingConfig } from '../../config';
import { type AmqpConsumer, RabbitMqManagement, RabbitMqService } from '../../shared/rabbitmq';
import { RedisService } from '../../shared/redis';
import { emitLifecycleEvent } from '../../shared/lifecycle';
import type { InstanceQueueStats } from './dto/messaging.dto';
import { MESSAGING_QUEUE_SCALED, QueueScaledEvent } from './messaging.events';
import {
  inFlightGauge,
  metricLabels,
  policyAppliedGauge,
  unconsumableGauge,
  workersGauge,
} from './messaging.metrics';
import { type QueueConfig, QueueConfigRepository } from './queue-config.repository';
import {
  allQueues,
  declareTenantQueue,
  type QueueNames,
  queueNames,
  WORK_QUEUE_POLICY,
  workQueuePolicy,
} from './queue-topology';
import {
  type QueueMessage,
  queueMessageSchema,
  TenantQueueWorker,
  type WorkerCounters,
} from './tenant-queue.worker';

const HEARTBEAT_MS = 1_000;
const INSTANCE_TTL_MS = 6_000;
const RECONCILE_MS = 10_000;
const DRAIN_TIMEOUT_MS = 20_000;

type Notice =
  | { type: 'config'; tenantId: string; queueName?: string }
  | { type: 'drain'; tenantId: string; requestId: string };

interface Running {
  config: QueueConfig;
  consumer: AmqpConsumer<QueueMessage>;
  counters: WorkerCounters;
  /** What the unconsumable gauge shows now (set when it changes). */
  blocked: boolean;
}

const keyOf = (tenantId: string, queueName: string) => `${tenantId}/${queueName}`;

/**
 * The one place that knows which tenant queues run on this instance, at which concurrency.
 * It converges to the stored configuration (messaging_queues): at start, on every Redis
 * notification (a PUT on any instance reaches all within about a second), and by a periodic
 * reconcile in case a notification was missed. Scale-down stops taking deliveries beyond the
 * new count and lets in-flight ones finish; a tenant's deletion drains it on every live
 * instance (each answers on Redis) before its queues are deleted.
 */
@Injectable()
export class ConsumerRegistry implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ConsumerRegistry.name);
  readonly instanceId = randomUUID();
  private readonly running = new Map<string, Running>();
  private readonly starting = new Map<string, Promise<void>>();
  private readonly declared = new Set<string>();
  /** Queues found with an earlier version's arguments → the broker's refusal of ours. */
  private readonly outdated = new Map<string, string>();
  private policyError: string | null = 'not set yet';
  private readonly drainAcks = new Map<string, Set<string>>();
  private subscriber?: Redis;
  private timers: NodeJS.Timeout[] = [];
  private closing = false;
  private readonly configChannel: string;
  private readonly drainedChannel: string;
  private readonly instancesKey: string;
  private readonly instanceKey: (id: string) => string;

  constructor(
    @Inject(messagingConfig.KEY) private readonly config: MessagingConfig,
    private readonly rabbit: RabbitMqService,
    private readonly management: RabbitMqManagement,
    private readonly redis: RedisService,
    private readonly queues: QueueConfigRepository,
    private readonly worker: TenantQueueWorker,
    private readonly events: EventEmitter2,
  ) {
    this.configChannel = redis.key('messaging:config');
    this.drainedChannel = redis.key('messaging:drained');
    this.instancesKey = redis.key('messaging:instances');
    this.instanceKey = (id) => redis.key(`messaging:instance:${id}`);
  }

  async onApplicationBootstrap(): Promise<void> {
    this.subscriber = this.redis.createSubscriber('messaging');
    this.subscriber.on('message', (channel: string, text: string) => this.onNotice(channel, text));
    await this.subscriber
      .subscribe(this.configChannel, this.drainedChannel)
      .catch((err: unknown) => {
        this.logger.warn({ err }, 'Messaging notifications unavailable; reconcile only');
      });
    this.rabbit.connection.on('connect', () => this.declared.clear());
    await this.applyPolicy();
    const policyTimer = setInterval(() => {
      if (this.policyError) void this.applyPolicy();
    }, RECONCILE_MS);
    policyTimer.unref();
    this.timers.push(policyTimer);
    if (!this.config.workersEnabled) return;
    await this.heartbeat();
    await this.reconcile().catch((err: unknown) =>
      this.logger.warn({ err }, 'Initial messaging reconcile failed; retrying on schedule'),
    );
    this.timers.push(
      setInterval(() => void this.heartbeat(), HEARTBEAT_MS),
      setInterval(
        () =>
          void this.reconcile().catch((err: unknown) =>
            this.logger.warn({ err }, 'Messaging reconcile failed'),
          ),
        RECONCILE_MS,
      ),
    );
    this.timers.forEach((timer) => timer.unref());
  }

  async onApplicationShutdown(): Promise<void> {
    this.closing = true;
    this.timers.forEach((timer) => clearInterval(timer));
    await Promise.allSettled([...this.starting.values()]);
    await Promise.allSettled([...this.running.values()].map((r) => r.consumer.stop()));
    this.running.clear();
    await this.redis.client
      .multi()
      .zrem(this.instancesKey, this.instanceId)
      .del(this.instanceKey(this.instanceId))
      .exec()
      .catch(() => undefined);
  }

  /** Declares a queue's topology (once per connection) and starts or rescales its consumer here. */
  async apply(config: QueueConfig): Promise<void> {
    const key = keyOf(config.tenantId, config.queueName);
    const pending = this.starting.get(key);
    if (pending) await pending.catch(() => undefined);
    const running = this.running.get(key);
    if (config.status !== 'active' || this.closing || !this.config.workersEnabled) {
      if (running) await this.stop(key);
      return;
    }
    if (running) {
      const before = running.config;
      if (config.version < before.version) return;
      running.config = config;
      if (config.workers !== running.consumer.concurrency) {
        await running.consumer.setConcurrency(config.workers);
        workersGauge.set(metricLabels(config.tenantId, config.queueName), config.workers);
        this.logger.log(`${key}: workers ${before.workers} → ${config.workers}`);
      }
      return;
    }
    const start = this.start(config).finally(() => this.starting.delete(key));
    this.starting.set(key, start);
    await start;
  }

  /** Declares the queue's topology now (first publish, provisioning). */
  async declare(tenantId: string, queueName: string): Promise<void> {
    const key = keyOf(tenantId, queueName);
    if (this.declared.has(key)) return;
    await this.declareTopology(key, queueNames(tenantId, queueName, this.config.retryDelaysMs));
    this.declared.add(key);
  }

  /** The queue's configuration row, topology and (on every instance) consumer exist. */
  async ensureQueue(tenantId: string, queueName: string): Promise<void> {
    if (this.isDeclared(tenantId, queueName)) return;
    await this.readyQueue(await this.queues.ensure(tenantId, queueName));
  }

  /** The queue's topology and (on every instance) consumer, for its configuration row. */
  async readyQueue(config: QueueConfig): Promise<void> {
    await this.declare(config.tenantId, config.queueName);
    await this.apply(config);
    if (config.version === 1) await this.notify(config.tenantId, config.queueName);
  }

  /**
   * The work queue's limits (MESSAGING_QUEUE_MAX_LENGTH, reject-publish) as a broker policy:
   * changed on the next start of any instance, and applied by the broker to every existing
   * queue at once. Until it is set, readiness and the `tessera_messaging_policy_applied` gauge
   * say so (and it is tried again every 10 s).
   */
  async applyPolicy(): Promise<void> {
    try {
      const outcome = await this.management.ensurePolicy(
        WORK_QUEUE_POLICY,
        workQueuePolicy(this.config.queueMaxLength),
      );
      if (outcome === 'set' || this.policyError) {
        this.logger.log(
          `Policy ${WORK_QUEUE_POLICY}: max-length ${this.config.queueMaxLength} (${outcome})`,
        );
      }
      this.policyError = null;
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      if (reason !== this.policyError) {
        this.logger.warn(
          { err },
          `Policy ${WORK_QUEUE_POLICY} not set: queues have no length limit`,
        );
      }
      this.policyError = reason;
    }
    policyAppliedGauge.set(this.policyError ? 0 : 1);
    this.rabbit.setTopologyProblem(
      `policy ${WORK_QUEUE_POLICY}`,
      this.policyError && `not set: ${this.policyError}`,
    );
  }

  /** Declared on a channel of its own; a queue found with outdated arguments is used as it is. */
  private async declareTopology(key: string, names: QueueNames): Promise<void> {
    const { outdated } = await declareTenantQueue(
      (work) => this.rabbit.withOwnChannel(work),
      names,
    );
    if (outdated && !this.outdated.has(key)) {
      this.logger.warn(
        `${names.main} has an earlier version's arguments; used as it is: ${outdated}`,
      );
    }
    if (outdated) this.outdated.set(key, outdated);
    else this.outdated.delete(key);
  }

  /** Topology declared on this connection and, when workers run here, a consumer started. */
  isDeclared(tenantId: string, queueName: string): boolean {
    const key = keyOf(tenantId, queueName);
    return this.declared.has(key) && (!this.config.workersEnabled || this.running.has(key));
  }

  /** The queue was not found on the broker: declare it again on next use. */
  forget(tenantId: string, queueName: string): void {
    this.declared.delete(keyOf(tenantId, queueName));
  }

  /** Tenants with queues (what the outbox relay sweeps). */
  async liveTenants(): Promise<string[]> {
    return [...new Set((await this.queues.allLive()).map((c) => c.tenantId))];
  }

  /** Tells every instance (this one included) to re-read the stored configuration. */
  async notify(tenantId: string, queueName?: string): Promise<void> {
    const notice: Notice = { type: 'config', tenantId, queueName };
    await this.redis.client
      .publish(this.configChannel, JSON.stringify(notice))
      .catch((err: unknown) =>
        this.logger.warn({ err }, 'Could not notify other instances; they reconcile within 10 s'),
      );
  }

  emitScaled(config: QueueConfig): void {
    emitLifecycleEvent(
      this.events,
      this.logger,
      MESSAGING_QUEUE_SCALED,
      new QueueScaledEvent(config.tenantId, config.queueName, config.workers),
    );
  }

  /**
   * Stops the tenant's consumers on every live instance (each drains, then answers), then
   * deletes its queues and configuration.
   */
  async deleteTenant(tenantId: string): Promise<void> {
    const configs = await this.queues.markDeleting(tenantId);
    const requestId = randomUUID();
    const acks = new Set<string>();
    this.drainAcks.set(requestId, acks);
    try {
      const notice: Notice = { type: 'drain', tenantId, requestId };
      await this.redis.client.publish(this.configChannel, JSON.stringify(notice));
      const deadline = Date.now() + DRAIN_TIMEOUT_MS;
      for (;;) {
        const live = await this.liveInstances();
        if (live.every((id) => acks.has(id)) && acks.has(this.instanceId)) break;
        if (Date.now() > deadline) {
          this.logger.warn(
            `Tenant ${tenantId}: instances ${live.filter((id) => !acks.has(id)).join(', ')} did not confirm the drain; deleting its queues anyway`,
          );
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      this.drainAcks.delete(requestId);
    }
    await this.stopTenant(tenantId);
    for (const config of configs) {
      const names = queueNames(tenantId, config.queueName, this.config.retryDelaysMs);
      // One call per queue: a delete that fails (a delay queue never made) costs only itself.
      for (const queue of allQueues(names)) {
        await this.rabbit
          .withChannel((channel) => channel.deleteQueue(queue))
          .catch((err: unknown) => this.logger.debug({ err }, `Queue ${queue} not deleted`));
      }
      for (const key of [...this.declared]) {
        if (key.startsWith(keyOf(tenantId, config.queueName))) this.declared.delete(key);
      }
      this.outdated.delete(keyOf(tenantId, config.queueName));
    }
    await this.queues.remove(tenantId);
  }

  /** This instance's figures for one queue (null when it does not run it). */
  localStats(tenantId: string, queueName: string): InstanceQueueStats | null {
    const running = this.running.get(keyOf(tenantId, queueName));
    if (!running) return null;
    return {
      workers: running.config.workers,
      active_workers: running.consumer.isSubscribed ? running.consumer.concurrency : 0,
      in_flight: running.consumer.active,
      processed: running.counters.processed,
      failed: running.counters.failed,
      is_active: running.consumer.isSubscribed,
      consumable: running.consumer.blockedReason === null,
      blocked_reason: running.consumer.blockedReason,
      arguments_outdated: this.outdated.has(keyOf(tenantId, queueName)),
    };
  }

  /** Every live instance's figures, from their heartbeats: instance id → queue key → stats. */
  async clusterStats(): Promise<Map<string, Record<string, InstanceQueueStats>>> {
    const live = await this.liveInstances();
    const out = new Map<string, Record<string, InstanceQueueStats>>();
    if (!live.length) return out;
    const values = await this.redis.client.mget(live.map(this.instanceKey));
    live.forEach((id, i) => {
      if (id === this.instanceId) out.set(id, this.snapshot());
      else if (values[i]) out.set(id, JSON.parse(values[i]) as Record<string, InstanceQueueStats>);
    });
    if (!out.has(this.instanceId) && this.config.workersEnabled)
      out.set(this.instanceId, this.snapshot());
    return out;
  }

  /** Consumers running here (the 1,000-tenant measurement). */
  get size(): number {
    return this.running.size;
  }

  private async start(config: QueueConfig): Promise<void> {
    const key = keyOf(config.tenantId, config.queueName);
    const names = queueNames(config.tenantId, config.queueName, this.config.retryDelaysMs);
    const counters: WorkerCounters = { processed: 0, failed: 0 };
    const labels = metricLabels(config.tenantId, config.queueName);
    const entry: { current?: Running } = {};
    const consumer = await this.rabbit.startConsumer<QueueMessage>(
      {
        queue: names.main,
        concurrency: config.workers,
        expectedTenantId: config.tenantId,
        // Re-declared on every (re)subscription (on a channel of its own: a refused declare must
        // not close the shared consumer channel), unless the queue is being removed.
        setup: async () => {
          if (this.closing || (entry.current && this.running.get(key) !== entry.current)) {
            throw new Error(`${key} is no longer run here`);
          }
          await this.declareTopology(key, names);
        },
        parse: (content) => queueMessageSchema.parse(JSON.parse(content.toString())),
        handle: async (inbound) => {
          inFlightGauge.inc(labels);
          try {
            const current = this.running.get(key)?.config ?? config;
            return await this.worker.process(current, inbound, counters);
          } finally {
            inFlightGauge.dec(labels);
          }
        },
        // The outcome could not be stored (database or broker down): redeliver, never drop.
        onError: () => Promise.resolve('requeue'),
      },
      { wait: false },
    );
    entry.current = { config, consumer, counters, blocked: false };
    this.running.set(key, entry.current);
    workersGauge.set(labels, config.workers);
  }

  private async stop(key: string): Promise<void> {
    const running = this.running.get(key);
    if (!running) return;
    this.running.delete(key);
    await running.consumer.stop();
    const labels = metricLabels(running.config.tenantId, running.config.queueName);
    workersGauge.set(labels, 0);
    if (running.blocked) unconsumableGauge.set(labels, 0);
  }

  private async stopTenant(tenantId: string): Promise<void> {
    const keys = [...this.running.keys()].filter((key) => key.startsWith(`${tenantId}/`));
    await Promise.all(keys.map((key) => this.stop(key)));
  }

  private async reconcile(): Promise<void> {
    if (this.closing) return;
    const wanted = await this.queues.allLive();
    const keys = new Set(wanted.map((c) => keyOf(c.tenantId, c.queueName)));
    for (const config of wanted) await this.apply(config);
    for (const key of [...this.running.keys()]) if (!keys.has(key)) await this.stop(key);
  }

  private onNotice(channel: string, text: string): void {
    let notice: Notice | { requestId: string; instanceId: string };
    try {
      notice = JSON.parse(text) as typeof notice;
    } catch {
      return;
    }
    if (channel === this.drainedChannel && 'instanceId' in notice) {
      this.drainAcks.get(notice.requestId)?.add(notice.instanceId);
      return;
    }
    if (!('type' in notice)) return;
    if (notice.type === 'drain') {
      const { requestId, tenantId } = notice;
      void this.stopTenant(tenantId)
        .catch((err: unknown) => this.logger.warn({ err }, `Drain of ${tenantId} failed`))
        .then(() =>
          this.redis.client.publish(
            this.drainedChannel,
            JSON.stringify({ requestId, instanceId: this.instanceId }),
          ),
        )
        .catch(() => undefined);
      return;
    }
    if (!this.config.workersEnabled) return;
    const { tenantId, queueName } = notice;
    void (async () => {
      const configs = queueName
        ? [await this.queues.get(tenantId, queueName)]
        : await this.queues.forTenant(tenantId);
      for (const config of configs) if (config) await this.apply(config);
    })().catch((err: unknown) => this.logger.warn({ err }, 'Applying a notification failed'));
  }

  private snapshot(): Record<string, InstanceQueueStats> {
    const out: Record<string, InstanceQueueStats> = {};
    for (const [key, running] of this.running) {
      const stats = this.localStats(running.config.tenantId, running.config.queueName);
      if (stats) out[key] = stats;
    }
    return out;
  }

  /** The unconsumable gauge follows each consumer's state (set only when it changes). */
  private updateBlocked(): void {
    for (const running of this.running.values()) {
      const blocked = running.consumer.blockedReason !== null;
      if (blocked === running.blocked) continue;
      running.blocked = blocked;
      unconsumableGauge.set(
        metricLabels(running.config.tenantId, running.config.queueName),
        blocked ? 1 : 0,
      );
    }
  }

  private async heartbeat(): Promise<void> {
    if (this.closing) return;
    this.updateBlocked();
    await this.redis.client
      .multi()
      .zadd(this.instancesKey, Date.now(), this.instanceId)
      .set(
        this.instanceKey(this.instanceId),
        JSON.stringify(this.snapshot()),
        'PX',
        INSTANCE_TTL_MS,
      )
      .exec()
      .catch(() => undefined);
  }

  private async liveInstances(): Promise<string[]> {
    const since = Date.now() - INSTANCE_TTL_MS;
    await this.redis.client.zremrangebyscore(this.instancesKey, 0, since).catch(() => 0);
    const ids = await this.redis.client.zrangebyscore(this.instancesKey, since, '+inf');
    return ids;
  }
}
