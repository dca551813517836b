import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { messagingConfig, type MessagingConfig } from '../../config';
import { messagingError } from './messaging.errors';
import { rowsOf } from './sql-rows';

/** One tenant queue's stored consumer configuration. */
export interface QueueConfig {
  tenantId: string;
  queueName: string;
  workers: number;
  maxAttempts: number;
  webhookUrl: string | null;
  /** The queue's own HMAC secret for its webhook (never in a view but the one that made it). */
  signingSecret: string | null;
  status: 'active' | 'deleting';
  version: number;
  updatedAt: Date;
}

interface QueueRow {
  tenant_id: string;
  queue_name: string;
  workers: number;
  max_attempts: number;
  webhook_url: string | null;
  webhook_signing_secret: string | null;
  status: 'active' | 'deleting';
  version: string;
  updated_at: Date;
}

const COLUMNS = `q.tenant_id, q.queue_name, q.workers, q.max_attempts, q.webhook_url,
  q.webhook_signing_secret, q.status, q.version, q.updated_at`;

function toConfig(row: QueueRow): QueueConfig {
  return {
    tenantId: row.tenant_id,
    queueName: row.queue_name,
    workers: row.workers,
    maxAttempts: row.max_attempts,
    webhookUrl: row.webhook_url,
    signingSecret: row.webhook_signing_secret,
    status: row.status,
    version: Number(row.version),
    updatedAt: row.updated_at,
  };
}

/** `messaging_queues` in the platform database: what every instance converges to. */
@Injectable()
export class QueueConfigRepository {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(messagingConfig.KEY) private readonly config: MessagingConfig,
  ) {}

  async get(tenantId: string, queueName: string): Promise<QueueConfig | null> {
    const rows: QueueRow[] = await this.db.query(
      `select ${COLUMNS} from messaging_queues q where q.tenant_id = $1 and q.queue_name = $2`,
      [tenantId, queueName],
    );
    return rows[0] ? toConfig(rows[0]) : null;
  }

  async forTenant(tenantId: string): Promise<QueueConfig[]> {
    const rows: QueueRow[] = await this.db.query(
      `select ${COLUMNS} from messaging_queues q where q.tenant_id = $1 order by q.queue_name`,
      [tenantId],
    );
    return rows.map(toConfig);
  }

  /** Every queue of every active tenant (what this instance should run). */
  async allLive(): Promise<QueueConfig[]> {
    const rows: QueueRow[] = await this.db.query(
      `select ${COLUMNS} from messaging_queues q join tenants t on t.id = q.tenant_id
        where t.status in ('active', 'provisioning') and q.status = 'active'`,
    );
    return rows.map(toConfig);
  }

  /**
   * The queue's row, made on first use with the tenant's default worker count; a new one only
   * within MESSAGING_MAX_QUEUES_PER_TENANT (409 MESSAGING.QUEUE_LIMIT_REACHED): every queue costs
   * the shared broker queues, file descriptors and a consumer on every instance.
   */
  async ensure(tenantId: string, queueName: string, workers?: number): Promise<QueueConfig> {
    const existing = await this.get(tenantId, queueName);
    if (existing) return existing;
    return this.db.transaction(async (manager) => {
      // One creation at a time per tenant, so the count and the insert agree.
      await manager.query(`select pg_advisory_xact_lock(hashtextextended($1, 0))`, [
        `messaging_queues:${tenantId}`,
      ]);
      const counted = rowsOf<{ count: number }>(
        await manager.query(
          `select count(*)::int as count from messaging_queues where tenant_id = $1 and queue_name <> $2`,
          [tenantId, queueName],
        ),
      );
      const limit = this.config.maxQueuesPerTenant;
      if (counted[0].count >= limit) {
        throw messagingError(
          'MESSAGING.QUEUE_LIMIT_REACHED',
          `The tenant has ${counted[0].count} queues; at most ${limit} (MESSAGING_MAX_QUEUES_PER_TENANT). Publish to an existing queue`,
          [{ field: 'queue_name', queues: counted[0].count, limit }],
        );
      }
      return this.insert(manager, tenantId, queueName, workers);
    });
  }

  private async insert(
    db: Pick<DataSource, 'query'>,
    tenantId: string,
    queueName: string,
    workers?: number,
  ): Promise<QueueConfig> {
    const rows: QueueRow[] = await db.query(
      `with tenant as (select least(50, greatest(1, concurrency_config)) as workers from tenants where id = $1)
       insert into messaging_queues (tenant_id, queue_name, workers, max_attempts)
       select $1, $2, coalesce($3, (select workers from tenant), $4), $5
       on conflict (tenant_id, queue_name) do update set queue_name = excluded.queue_name
       returning tenant_id, queue_name, workers, max_attempts, webhook_url, webhook_signing_secret,
                 status, version, updated_at`,
      [tenantId, queueName, workers ?? null, this.config.defaultWorkers, this.config.maxAttempts],
    );
    return toConfig(rows[0]);
  }

  async update(
    tenantId: string,
    queueName: string,
    changes: {
      workers: number;
      maxAttempts?: number;
      webhookUrl?: string | null;
      /** A new signing secret to store (else the current one stays). */
      signingSecret?: string;
    },
  ): Promise<QueueConfig> {
    await this.ensure(tenantId, queueName, changes.workers);
    const rows = rowsOf<QueueRow>(
      await this.db.query(
        `update messaging_queues q set workers = $3,
              max_attempts = coalesce($4, max_attempts),
              webhook_url = case when $5::boolean then $6 else webhook_url end,
              webhook_signing_secret = coalesce($7, webhook_signing_secret),
              version = version + 1, updated_at = now()
        where tenant_id = $1 and queue_name = $2
        returning ${COLUMNS}`,
        [
          tenantId,
          queueName,
          changes.workers,
          changes.maxAttempts ?? null,
          changes.webhookUrl !== undefined,
          changes.webhookUrl ?? null,
          changes.signingSecret ?? null,
        ],
      ),
    );
    return toConfig(rows[0]);
  }

  /** All of the tenant's queues (the default one made if none exists). */
  async updateAll(tenantId: string, workers: number): Promise<QueueConfig[]> {
    await this.ensure(tenantId, 'default', workers);
    const rows = rowsOf<QueueRow>(
      await this.db.query(
        `update messaging_queues q set workers = $2, version = version + 1, updated_at = now()
        where tenant_id = $1 returning ${COLUMNS}`,
        [tenantId, workers],
      ),
    );
    return rows.map(toConfig).sort((a, b) => a.queueName.localeCompare(b.queueName));
  }

  async markDeleting(tenantId: string): Promise<QueueConfig[]> {
    const rows = rowsOf<QueueRow>(
      await this.db.query(
        `update messaging_queues q set status = 'deleting', version = version + 1, updated_at = now()
        where tenant_id = $1 returning ${COLUMNS}`,
        [tenantId],
      ),
    );
    return rows.map(toConfig);
  }

  async remove(tenantId: string): Promise<void> {
    await this.db.query(`delete from messaging_queues where tenant_id = $1`, [tenantId]);
  }
}
