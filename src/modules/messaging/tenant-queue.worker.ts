import { Inject, Injectable, Logger } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { z } from 'zod';
import { messagingConfig, type MessagingConfig } from '../../config';
import type { AmqpInbound, AmqpOutcome } from '../../shared/rabbitmq';
import { NaturalBatcher } from '../../shared/batching';
import { RabbitMqService } from '../../shared/rabbitmq';
import { emitLifecycleEvent } from '../../shared/lifecycle';
import { claimSlots } from './batch-slots';
import { MessageHandler } from './message-handler';
import { type ClaimedRow, type DeliveryKey, MessagesRepository } from './messages.repository';
import {
  MESSAGING_MESSAGE_FAILED,
  MESSAGING_MESSAGE_PROCESSED,
  MessageFailedEvent,
  MessageProcessedEvent,
} from './messaging.events';
import {
  messagesFailed,
  messagesProcessed,
  messagesRetried,
  metricLabels,
  processingSeconds,
} from './messaging.metrics';
import type { QueueConfig } from './queue-config.repository';
import { declareDelayQueue, queueNames, retryTarget } from './queue-topology';
import { WorkerDbSlots } from './worker-db-slots';

/** What travels on the broker: the id only; the row is the truth. */
export const queueMessageSchema = z.object({ id: z.uuid() });
export type QueueMessage = z.infer<typeof queueMessageSchema>;

export interface WorkerCounters {
  processed: number;
  failed: number;
}

/**
 * Processes one delivery of a tenant queue: claims the row (`processing`, attempts + 1), runs
 * the handler, stores the outcome, and only then lets the consumer ack. A failed attempt goes
 * to the delay queue of its step (published with a confirm before the ack), the last one to
 * the DLQ with the row `failed`. A row already `processed` or `failed` is acked without running
 * the handler again: a redelivery after a crash never repeats a recorded effect.
 */
@Injectable()
export class TenantQueueWorker {
  private readonly logger = new Logger(TenantQueueWorker.name);

  constructor(
    @Inject(messagingConfig.KEY) private readonly config: MessagingConfig,
    private readonly repository: MessagesRepository,
    private readonly rabbit: RabbitMqService,
    private readonly handler: MessageHandler,
    private readonly events: EventEmitter2,
    private readonly slots: WorkerDbSlots,
  ) {
    this.rabbit.connection.on('connect', () => this.delaysDeclared.clear());
    this.records = this.claimer(true);
    this.claims = this.claimer(false);
    this.completions = new NaturalBatcher<string, void>({
      run: async (tenantId, ids) => {
        await this.repository.complete(tenantId, ids);
        return ids.map(() => undefined);
      },
      slots: this.slots,
    });
  }

  private readonly delaysDeclared = new Set<string>();

  /**
   * Deliveries of one tenant in flight together are claimed in one transaction (and, in the
   * record-only case, stored as processed by the same statement): each gets its row, or null
   * when the row is not (or no longer) this queue's to process. A message id twice in one batch
   * (a relayed duplicate) is claimed by its first slot only. A claim is a lease
   * (MESSAGING_CLAIM_LEASE_MS): a row another delivery is processing is not taken again until
   * its lease has expired (its worker died or lost its channel); the duplicate is acked, and the
   * relay's sweep republishes the row should that worker never finish it.
   */
  private claimer(recordOnly: boolean): NaturalBatcher<DeliveryKey, ClaimedRow | null> {
    return new NaturalBatcher({
      run: async (tenantId, inputs) => {
        const rows = await this.repository.claim(
          tenantId,
          inputs,
          recordOnly,
          this.config.claimLeaseMs,
        );
        return claimSlots(inputs, rows);
      },
      slots: this.slots,
    });
  }

  private readonly records: NaturalBatcher<DeliveryKey, ClaimedRow | null>;
  private readonly claims: NaturalBatcher<DeliveryKey, ClaimedRow | null>;

  /** Handled deliveries of one tenant stored as processed together. */
  private readonly completions: NaturalBatcher<string, void>;

  /** A delay queue is declared before its first use (once per connection). */
  private async declareDelay(tenantId: string, queueName: string, step: number): Promise<void> {
    const key = `${tenantId}/${queueName}#${step}`;
    if (this.delaysDeclared.has(key)) return;
    const names = queueNames(tenantId, queueName, this.config.retryDelaysMs);
    await declareDelayQueue(
      (work) => this.rabbit.withOwnChannel(work),
      names,
      step,
      this.config.retryDelaysMs[step],
    );
    this.delaysDeclared.add(key);
  }

  private recordProcessed(
    queue: QueueConfig,
    id: string,
    attempts: number,
    counters: WorkerCounters,
  ): void {
    counters.processed++;
    messagesProcessed.inc(metricLabels(queue.tenantId, queue.queueName));
    emitLifecycleEvent(
      this.events,
      this.logger,
      MESSAGING_MESSAGE_PROCESSED,
      new MessageProcessedEvent(queue.tenantId, id, queue.queueName, attempts),
    );
  }

  /**
   * A delivery whose row could not be claimed: a duplicate of a finished message (normal after
   * a crash or a reconnect), or no such row in this tenant's queue, which is never normal.
   */
  private async unclaimed(queue: QueueConfig, id: string): Promise<void> {
    const found = await this.repository.statusOf(queue.tenantId, id);
    if (found && found.queue_name === queue.queueName) {
      this.logger.debug({ messageId: id, status: found.status }, 'Duplicate delivery acked');
      return;
    }
    this.logger.warn(
      { messageId: id, queue: queue.queueName, found },
      'A delivery names no message of this queue; acked without processing',
    );
  }

  async process(
    queue: QueueConfig,
    inbound: AmqpInbound<QueueMessage>,
    counters: WorkerCounters,
  ): Promise<AmqpOutcome> {
    const { id } = inbound.body;
    if (this.handler.isRecordOnly(queue)) {
      // The effect is the record itself: claimed and stored at once, in a batch of the tenant's.
      const done = await this.records.load(queue.tenantId, { id, queueName: queue.queueName });
      if (done) this.recordProcessed(queue, id, done.attempts, counters);
      else await this.unclaimed(queue, id);
      return 'ack';
    }
    const claimed = await this.claims.load(queue.tenantId, { id, queueName: queue.queueName });
    if (!claimed) {
      await this.unclaimed(queue, id);
      return 'ack';
    }
    const labels = metricLabels(queue.tenantId, queue.queueName);
    const started = performance.now();
    let error: string | undefined;
    try {
      await this.handler.handle({
        id,
        tenantId: queue.tenantId,
        queueName: queue.queueName,
        payload: claimed.payload,
        attempt: claimed.attempts,
        webhookUrl: queue.webhookUrl,
        signingSecret: queue.signingSecret,
      });
    } catch (err) {
      error = (err instanceof Error ? err.message : String(err)).slice(0, 1000);
    }
    processingSeconds.observe(
      { ...labels, outcome: error ? 'error' : 'ok' },
      (performance.now() - started) / 1000,
    );

    if (!error) {
      await this.completions.load(queue.tenantId, id);
      this.recordProcessed(queue, id, claimed.attempts, counters);
      return 'ack';
    }

    const names = queueNames(queue.tenantId, queue.queueName, this.config.retryDelaysMs);
    const { final, step, target } = retryTarget(names, claimed.attempts, queue.maxAttempts);
    await this.repository.recordFailure(queue.tenantId, id, final ? 'failed' : 'queued', error);
    if (!final) await this.declareDelay(queue.tenantId, queue.queueName, step);
    // Confirmed before the ack: a crash in between redelivers the original, never loses it.
    await this.rabbit.publish('', target, Buffer.from(JSON.stringify({ id })), {
      messageId: id,
      headers: { 'x-attempts': claimed.attempts, 'x-last-error': error.slice(0, 200) },
      timeout: this.config.publishTimeoutMs,
    });
    if (final) {
      counters.failed++;
      messagesFailed.inc(labels);
      emitLifecycleEvent(
        this.events,
        this.logger,
        MESSAGING_MESSAGE_FAILED,
        new MessageFailedEvent(queue.tenantId, id, queue.queueName, claimed.attempts, error),
      );
    } else {
      messagesRetried.inc(labels);
    }
    return 'ack';
  }
}
