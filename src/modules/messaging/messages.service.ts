import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { NaturalBatcher } from '../../shared/batching';
import { currentTraceparent } from '../../shared/telemetry';
import { TenantAuditTrail } from '../tenancy';
import {
  cursorCodec,
  cursorParts,
  isCursorInstant,
  type Page,
  toPage,
} from '../../shared/pagination';
import { storedSlots } from './batch-slots';
import { ConsumerRegistry } from './consumer-registry.service';
import type { MessageStatus, MessageView } from './dto/messaging.dto';
import { type MessageRow, MessagesRepository } from './messages.repository';
import { messagingError } from './messaging.errors';
import { messagesPublished, metricLabels } from './messaging.metrics';
import { OutboxService } from './outbox.service';
import { failedReplayError } from './publish-answers';
import { QueueConfigRepository } from './queue-config.repository';

export const MAX_PAYLOAD_BYTES = 256 * 1024;

interface PublishInput {
  queueName: string;
  payload: unknown;
  idempotencyKey?: string;
  traceparent?: string;
}

interface Stored {
  message: MessageView;
  created: boolean;
}

const messageCursor = cursorCodec(z.tuple([cursorParts.instant, cursorParts.uuid]));

function toView(row: MessageRow): MessageView {
  return {
    id: row.id,
    tenant_id: row.tenant_id,
    queue_name: row.queue_name,
    payload: row.payload,
    status: row.status,
    attempts: row.attempts,
    last_error: row.last_error,
    idempotency_key: row.idempotency_key,
    created_at: row.created_at.toISOString(),
    processed_at: row.processed_at?.toISOString() ?? null,
  };
}

/** PostgreSQL: "no partition of relation … found for row". */
const NO_PARTITION = '23514';

/**
 * Messages: stored with an outbox row in one tenant transaction, then published with a
 * confirm (the outbox's publish-after-commit). 202 only after the confirm; a publish that could
 * not be confirmed leaves the outbox row for the relay (503 with Retry-After says so); a full
 * queue is a 429.
 */
@Injectable()
export class MessagesService {
  constructor(
    private readonly repository: MessagesRepository,
    private readonly outbox: OutboxService,
    private readonly registry: ConsumerRegistry,
    private readonly queues: QueueConfigRepository,
    private readonly audit: TenantAuditTrail,
  ) {}

  async publish(
    tenantId: string,
    input: PublishInput,
  ): Promise<{ message: MessageView; replayed: boolean }> {
    const size = Buffer.byteLength(JSON.stringify(input.payload ?? null));
    if (size > MAX_PAYLOAD_BYTES) {
      throw messagingError(
        'MESSAGING.PAYLOAD_TOO_LARGE',
        `payload is ${size} bytes; at most ${MAX_PAYLOAD_BYTES} (256 KiB) are accepted`,
        [{ field: 'payload', message: 'at most 256 KiB' }],
      );
    }
    // Whatever may refuse the publish (the queue's configuration row, and any limit on it) is
    // asked before the message is stored: once stored, the relay publishes it whatever the answer.
    const config = this.registry.isDeclared(tenantId, input.queueName)
      ? undefined
      : await this.queues.ensure(tenantId, input.queueName);
    const { message, created } = await this.store(tenantId, input);
    // A retry of a stored message (its key taken): the message as it is now. A `queued` one has
    // its outbox row, or the relay's sweep republishes it: it will be processed. A failed one
    // will not be: no success for it.
    if (!created) {
      if (message.status === 'failed') throw failedReplayError(message);
      return { message, replayed: true };
    }
    try {
      if (config) await this.registry.readyQueue(config);
      await this.outbox.publish(tenantId, message.id, input.queueName);
    } catch (err) {
      // The row and outbox entry are committed: every answer now says it is relayed later.
      this.outbox.markPending(tenantId);
      throw this.outbox.notConfirmed(message.id, err);
    }
    messagesPublished.inc(metricLabels(tenantId, input.queueName));
    return { message, replayed: false };
  }

  async get(tenantId: string, id: string): Promise<MessageView> {
    const row = await this.repository.find(tenantId, id);
    if (!row) throw messagingError('MESSAGING.MESSAGE_NOT_FOUND', `Message ${id} not found`);
    return toView(row);
  }

  async list(
    tenantId: string,
    query: { queue_name?: string; status?: MessageStatus; cursor?: string; limit: number },
  ): Promise<Page<MessageView>> {
    let before: { createdAt: string; id?: string } | undefined;
    if (query.cursor) {
      // A bare instant: a cursor of an earlier release, still honoured.
      if (isCursorInstant(query.cursor)) before = { createdAt: query.cursor };
      else {
        const [createdAt, id] = messageCursor.decode(query.cursor);
        before = { createdAt, id };
      }
    }
    const rows = await this.repository.list(tenantId, {
      queueName: query.queue_name,
      status: query.status,
      before,
      take: query.limit + 1,
    });
    return toPage(rows, query.limit, toView, (last) =>
      messageCursor.encode([last.created_key, last.id]),
    );
  }

  /** A failed message back to its queue, attempts reset. */
  async retry(tenantId: string, id: string): Promise<MessageView> {
    const row = await this.repository.requeueFailed(tenantId, id);
    if (row === 'not_found')
      throw messagingError('MESSAGING.MESSAGE_NOT_FOUND', `Message ${id} not found`);
    if (row === 'not_failed')
      throw messagingError('MESSAGING.NOT_RETRYABLE', `Message ${id} is not failed`);
    const message = toView(row);
    await this.registry.ensureQueue(tenantId, message.queue_name).catch((err: unknown) => {
      throw this.outbox.notConfirmed(id, err);
    });
    await this.outbox.publish(tenantId, id, message.queue_name);
    await this.audit.record(tenantId, 'message.retried', {
      message_id: id,
      queue_name: message.queue_name,
    });
    return message;
  }

  /** The tenant's partition of `messages` (provisioning); true when this call made it. */
  ensurePartition(tenantId: string): Promise<boolean> {
    return this.repository.ensurePartition(tenantId);
  }

  /** Publishes of one tenant arriving together share one statement (see `storeBatch`). */
  private readonly storeBatcher = new NaturalBatcher<PublishInput, Stored>({
    run: (tenantId, inputs) => this.storeBatch(tenantId, inputs),
    maxBatchSize: 100,
  });

  private store(tenantId: string, input: PublishInput): Promise<Stored> {
    // The request's trace context, for the outbox row (a relayed publish continues it).
    const traceparent = currentTraceparent();
    return this.storeBatcher.load(tenantId, traceparent ? { ...input, traceparent } : input);
  }

  /**
   * Rows and outbox entries of a batch in one transaction and one statement; an input whose
   * idempotency key is taken gets the first message. A tenant without a partition gets one and
   * the batch is tried again; any other failure tries each input alone, so one input's fault is
   * its own.
   */
  private async storeBatch(
    tenantId: string,
    inputs: readonly PublishInput[],
  ): Promise<Array<Stored | Error>> {
    try {
      return await this.insertBatch(tenantId, inputs);
    } catch (error) {
      if (pgCode(error) === NO_PARTITION) {
        // A tenant from before the messages table (or a missed provisioning step): make it now.
        await this.repository.ensurePartition(tenantId);
        return this.insertBatch(tenantId, inputs);
      }
      if (inputs.length === 1) throw error;
      return Promise.all(
        inputs.map((input) =>
          this.insertBatch(tenantId, [input]).then(
            ([stored]) => stored,
            (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
          ),
        ),
      );
    }
  }

  /** New rows with their outbox entries, then taken keys' rows: which row answers which input. */
  private async insertBatch(tenantId: string, inputs: readonly PublishInput[]): Promise<Stored[]> {
    const messages = inputs.map((input) => ({ ...input, id: randomUUID() }));
    const rows = await this.repository.store(tenantId, messages);
    return storedSlots(messages, rows).map(({ row, created }) => ({
      message: toView(row),
      created,
    }));
  }
}

function pgCode(error: unknown): string {
  const e = error as { code?: unknown; driverError?: { code?: unknown } };
  const code = e?.driverError?.code ?? e?.code;
  return typeof code === 'string' ? code : '';
}
