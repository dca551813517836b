import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { messagingConfig, type MessagingConfig } from '../../config';
import { NaturalBatcher } from '../../shared/batching';
import { AppError } from '../../shared/errors';
import {
  cursorCodec,
  cursorInstantSql,
  cursorParts,
  isCursorInstant,
  type Page,
  toPage,
} from '../../shared/pagination';
import { PublishNackedError, PublishUnroutableError, RabbitMqService } from '../../shared/rabbitmq';
import { TENANT_HEADER } from '../../shared/tenant-context';
import { TenantDatabase } from '../tenancy';
import { ConsumerRegistry } from './consumer-registry.service';
import { messagingError } from './messaging.errors';
import { messagesPublished, metricLabels } from './messaging.metrics';
import { type QueueConfig, QueueConfigRepository } from './queue-config.repository';
import { queueNames } from './queue-topology';
import { rowsOf } from './sql-rows';
import type { MessageStatus, MessageView } from './dto/messaging.dto';

export const MAX_PAYLOAD_BYTES = 256 * 1024;

interface PublishInput {
  queueName: string;
  payload: unknown;
  idempotencyKey?: string;
}

interface Stored {
  message: MessageView;
  created: boolean;
}

interface MessageRow {
  id: string;
  tenant_id: string;
  queue_name: string;
  payload: unknown;
  status: MessageStatus;
  attempts: number;
  last_error: string | null;
  idempotency_key: string | null;
  created_at: Date;
  processed_at: Date | null;
  /** created_at with its microseconds, for the cursor. */
  created_key: string;
}

const COLUMNS = `id, tenant_id, queue_name, payload, status, attempts, last_error, idempotency_key,
  created_at, processed_at,
  ${cursorInstantSql('created_at')} as created_key`;

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
 * confirm. 202 only after the confirm; a publish that could not be confirmed leaves the outbox
 * row for the relay (503 with Retry-After says so); a full queue is a 429.
 */
@Injectable()
export class MessagesService implements OnApplicationShutdown {
  private readonly logger = new Logger(MessagesService.name);
  private readonly confirmed = new Map<string, string[]>();
  private flushTimer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    @Inject(messagingConfig.KEY) private readonly config: MessagingConfig,
    private readonly tenantDb: TenantDatabase,
    private readonly rabbit: RabbitMqService,
    private readonly registry: ConsumerRegistry,
    private readonly queues: QueueConfigRepository,
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
      if (message.status === 'failed') throw failedReplay(message);
      return { message, replayed: true };
    }
    try {
      if (config) await this.declareQueue(tenantId, input.queueName, config);
      await this.publishStored(tenantId, message.id, input.queueName);
    } catch (err) {
      // The row and outbox entry are committed: every answer now says it is relayed later.
      this.registry.pendingOutbox.add(tenantId);
      throw this.unavailable(message.id, err);
    }
    messagesPublished.inc(metricLabels(tenantId, input.queueName));
    return { message, replayed: false };
  }

  /**
   * Publishes a committed message and clears its outbox row. On any failure the row stays
   * `queued` with its outbox row (the relay publishes it later) and the error says so: a full
   * queue (the broker's nack) is a 429, anything else a 503, both naming the stored message.
   */
  async publishStored(tenantId: string, id: string, queueName: string): Promise<void> {
    if (!this.rabbit.connected) {
      this.registry.pendingOutbox.add(tenantId);
      throw this.unavailable(id);
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
        this.registry.pendingOutbox.add(tenantId);
        throw queueFull(id, queueName);
      }
      if (err instanceof PublishUnroutableError) this.registry.forget(tenantId, queueName);
      this.registry.pendingOutbox.add(tenantId);
      throw this.unavailable(id, err);
    }
    this.clearOutbox(tenantId, id);
  }

  /**
   * Confirmed: its outbox row goes, in batches (one transaction per tenant at most every 250 ms). A row
   * left by a crash is harmless: the relay publishes it again and the worker acks the duplicate.
   */
  private clearOutbox(tenantId: string, id: string): void {
    let ids = this.confirmed.get(tenantId);
    if (!ids) this.confirmed.set(tenantId, (ids = []));
    ids.push(id);
    this.flushTimer ??= setTimeout(
      () => void this.flushOutbox(),
      // Well inside the relay's age: a confirmed row is never republished for want of its clear.
      Math.min(250, this.config.relayAfterMs / 4),
    );
  }

  /** One flush at a time, taking what has gathered when it starts: load makes batches larger. */
  flushOutbox(): Promise<void> {
    this.flushTimer = undefined;
    const work = () => {
      const batches = [...this.confirmed.entries()];
      this.confirmed.clear();
      return Promise.all(
        batches.map(([tenantId, ids]) =>
          this.tenantDb
            .statementFor(tenantId, `select messaging_clear_outbox($1, $2::uuid[])`, [
              tenantId,
              ids,
            ])
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
    await this.flushOutbox();
  }

  async get(tenantId: string, id: string): Promise<MessageView> {
    const rows: MessageRow[] = await this.tenantDb.runFor(tenantId, (m) =>
      m.query(`select ${COLUMNS} from messages where tenant_id = $1 and id = $2`, [tenantId, id]),
    );
    if (!rows[0]) throw messagingError('MESSAGING.MESSAGE_NOT_FOUND', `Message ${id} not found`);
    return toView(rows[0]);
  }

  async list(
    tenantId: string,
    query: { queue_name?: string; status?: MessageStatus; cursor?: string; limit: number },
  ): Promise<Page<MessageView>> {
    // The tenant named in the statement: the partition is chosen when planning (RLS alone
    // prunes only at execution, after planning every partition).
    const where: string[] = ['tenant_id = $1'];
    const params: unknown[] = [tenantId];
    const add = (sql: string, ...values: unknown[]) => {
      let text = sql;
      for (const value of values) {
        params.push(value);
        text = text.replace('?', `$${params.length}`);
      }
      where.push(text);
    };
    if (query.queue_name) add('queue_name = ?', query.queue_name);
    if (query.status) add('status = ?', query.status);
    if (query.cursor) {
      // A bare instant: a cursor of an earlier release, still honoured.
      if (isCursorInstant(query.cursor)) {
        add('created_at < ?::timestamptz', query.cursor);
      } else {
        const [createdAt, id] = messageCursor.decode(query.cursor);
        add('(created_at, id) < (?::timestamptz, ?::uuid)', createdAt, id);
      }
    }
    params.push(query.limit + 1);
    const rows: MessageRow[] = await this.tenantDb.runFor(tenantId, (m) =>
      m.query(
        `select ${COLUMNS} from messages where ${where.join(' and ')}
          order by created_at desc, id desc limit $${params.length}`,
        params,
      ),
    );
    return toPage(rows, query.limit, toView, (last) =>
      messageCursor.encode([last.created_key, last.id]),
    );
  }

  /** A failed message back to its queue, attempts reset. */
  async retry(tenantId: string, id: string): Promise<MessageView> {
    const rows: MessageRow[] = await this.tenantDb.runFor(tenantId, async (m) => {
      const updated = rowsOf<MessageRow>(
        await m.query(
          `update messages set status = 'queued', attempts = 0, last_error = null, processed_at = null, updated_at = now()
          where tenant_id = $2 and id = $1 and status = 'failed' returning ${COLUMNS}`,
          [id, tenantId],
        ),
      );
      if (!updated[0]) {
        const exists: unknown[] = await m.query(
          `select 1 from messages where tenant_id = $1 and id = $2`,
          [tenantId, id],
        );
        if (!exists.length)
          throw messagingError('MESSAGING.MESSAGE_NOT_FOUND', `Message ${id} not found`);
        throw messagingError('MESSAGING.NOT_RETRYABLE', `Message ${id} is not failed`);
      }
      await m.query(
        `insert into message_outbox (message_id, queue_name) values ($1, $2) on conflict do nothing`,
        [id, updated[0].queue_name],
      );
      return updated;
    });
    const message = toView(rows[0]);
    await this.ensureQueue(tenantId, message.queue_name).catch((err: unknown) => {
      throw this.unavailable(id, err);
    });
    await this.publishStored(tenantId, id, message.queue_name);
    return message;
  }

  /** The queue's configuration row, topology and (on every instance) consumer exist. */
  async ensureQueue(tenantId: string, queueName: string): Promise<void> {
    if (this.registry.isDeclared(tenantId, queueName)) return;
    await this.declareQueue(tenantId, queueName, await this.queues.ensure(tenantId, queueName));
  }

  /** The queue's topology and (on every instance) consumer, for its configuration row. */
  private async declareQueue(
    tenantId: string,
    queueName: string,
    config: QueueConfig,
  ): Promise<void> {
    await this.registry.declare(tenantId, queueName);
    await this.registry.apply(config);
    if (config.version === 1) await this.registry.notify(tenantId, queueName);
  }

  /** Publishes of one tenant arriving together share one transaction (see `storeBatch`). */
  private readonly storeBatcher = new NaturalBatcher<PublishInput, Stored>({
    run: (tenantId, inputs) => this.storeBatch(tenantId, inputs),
    maxBatchSize: 100,
  });

  private store(tenantId: string, input: PublishInput): Promise<Stored> {
    return this.storeBatcher.load(tenantId, input);
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
        await this.ensurePartition(tenantId);
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

  /** One statement (messaging_store): new rows with their outbox entries, then taken keys' rows. */
  private async insertBatch(tenantId: string, inputs: readonly PublishInput[]): Promise<Stored[]> {
    const ids = inputs.map(() => randomUUID());
    const rows = await this.tenantDb.statementFor<MessageRow>(
      tenantId,
      `select ${COLUMNS} from messaging_store($1, $2::uuid[], $3::text[], $4::text[], $5::text[])`,
      [
        tenantId,
        ids,
        inputs.map((input) => input.queueName),
        inputs.map((input) => JSON.stringify(input.payload ?? null)),
        inputs.map((input) => input.idempotencyKey ?? null),
      ],
    );
    const byId = new Map(rows.map((row) => [row.id, row]));
    const byKey = new Map(rows.map((row) => [row.idempotency_key, row]));
    return inputs.map((input, i) => {
      const row = byId.get(ids[i]);
      if (row) return { message: toView(row), created: true };
      const first = input.idempotencyKey ? byKey.get(input.idempotencyKey) : undefined;
      if (!first) throw new Error(`Message of batch slot ${i} neither stored nor found`);
      return { message: toView(first), created: false };
    });
  }

  async ensurePartition(tenantId: string): Promise<boolean> {
    const rows: Array<{ created: boolean }> = await this.tenantDb.runFor(tenantId, (m) =>
      m.query(`select messaging_ensure_partition($1) as created`, [tenantId]),
    );
    return rows[0]?.created ?? false;
  }

  /** The answer for a stored message that was not published: relayed later (429 or 503). */
  private unavailable(id: string, cause?: unknown): AppError {
    if (cause instanceof AppError && cause.code === 'MESSAGING.QUEUE_FULL') return cause;
    if (cause)
      this.logger.warn({ err: cause }, `Message ${id} not confirmed; the relay will publish it`);
    return messagingError(
      'MESSAGING.BROKER_UNAVAILABLE',
      'The message broker did not confirm the message; it is stored and will be published when the broker is back',
      [{ message_id: id, status: 'queued', relayed_later: true }],
    ).withHeaders({ 'Retry-After': '5' });
  }
}

/** The key's message has failed (attempts spent): nothing will process it unless retried. */
function failedReplay(message: MessageView): AppError {
  return messagingError(
    'MESSAGING.MESSAGE_FAILED',
    `The message of this Idempotency-Key (${message.id}) failed after ${message.attempts} attempt(s); POST /api/v1/messages/${message.id}/retry sends it again`,
    [
      {
        message_id: message.id,
        status: message.status,
        attempts: message.attempts,
        last_error: message.last_error,
      },
    ],
  );
}

/** A full queue refused a stored message: it waits in the outbox (429, relayed later). */
function queueFull(id: string, queueName: string): AppError {
  return messagingError(
    'MESSAGING.QUEUE_FULL',
    `Queue ${queueName} is full: the message is stored and will be published when the queue has room; slow down and retry later with the same Idempotency-Key`,
    [{ message_id: id, status: 'queued', relayed_later: true }],
  ).withHeaders({ 'Retry-After': '5' });
}

function pgCode(error: unknown): string {
  const e = error as { code?: unknown; driverError?: { code?: unknown } };
  const code = e?.driverError?.code ?? e?.code;
  return typeof code === 'string' ? code : '';
}
