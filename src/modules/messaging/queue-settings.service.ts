import { Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { OutboundHttp } from '../../shared/outbound';
import { TenantAuditTrail, urlOrigin } from '../tenancy';
import { ConsumerRegistry } from './consumer-registry.service';
import type { QueueConfigView, TenantConcurrencyView } from './dto/messaging.dto';
import { messagingError } from './messaging.errors';
import { type QueueConfig, QueueConfigRepository } from './queue-config.repository';
import { DEFAULT_QUEUE } from './queue-topology';

export function toQueueConfigView(config: QueueConfig): QueueConfigView {
  return {
    tenant_id: config.tenantId,
    queue_name: config.queueName,
    workers: config.workers,
    max_attempts: config.maxAttempts,
    webhook_url: config.webhookUrl,
    signing: Boolean(config.signingSecret),
    updated_at: config.updatedAt.toISOString(),
  };
}

/** Configuration changes: stored first, then every instance told (and this one applies at once). */
@Injectable()
export class QueueSettingsService {
  constructor(
    private readonly queues: QueueConfigRepository,
    private readonly registry: ConsumerRegistry,
    private readonly outbound: OutboundHttp,
    private readonly audit: TenantAuditTrail,
  ) {}

  /**
   * A publish may name a queue that does not exist yet: only a tenant owner or a platform admin
   * makes it (403 MESSAGING.QUEUE_CREATE_FORBIDDEN for an API key or a plain member, except the
   * tenant's `default` queue), and only within MESSAGING_MAX_QUEUES_PER_TENANT (409). Checked
   * before the message is stored: a refused publish leaves no row, broker queue, consumer or
   * metric series behind.
   */
  async admitPublish(tenantId: string, queueName: string, mayCreate: boolean): Promise<void> {
    if (this.registry.isDeclared(tenantId, queueName)) return;
    if (await this.queues.get(tenantId, queueName)) return;
    if (!mayCreate && queueName !== DEFAULT_QUEUE) {
      throw messagingError(
        'MESSAGING.QUEUE_CREATE_FORBIDDEN',
        `Queue ${queueName} does not exist; only a tenant owner or a platform admin creates queues (publish to an existing queue, or ask an owner to configure this one)`,
      );
    }
    await this.queues.ensure(tenantId, queueName);
  }

  async setTenantWorkers(tenantId: string, workers: number): Promise<TenantConcurrencyView> {
    const configs = await this.queues.updateAll(tenantId, workers);
    for (const config of configs) {
      await this.registry.declare(tenantId, config.queueName).catch(() => undefined);
      await this.registry.apply(config);
      this.registry.emitScaled(config);
    }
    await this.registry.notify(tenantId);
    await this.audit.record(tenantId, 'queue.scaled', { workers, queues: configs.length });
    return { tenant_id: tenantId, workers, queues: configs.map(toQueueConfigView) };
  }

  async configureQueue(
    tenantId: string,
    queueName: string,
    body: {
      workers: number;
      max_attempts?: number;
      webhook_url?: string | null;
      rotate_signing_secret?: boolean;
    },
  ): Promise<QueueConfigView> {
    if (body.webhook_url) await this.outbound.assertAllowedUrl(body.webhook_url, 'webhook_url');
    // A queue's first webhook gets a secret of its own; a rotation replaces it. Shown once.
    const current = await this.queues.get(tenantId, queueName);
    const fresh =
      body.rotate_signing_secret || (body.webhook_url && !current?.signingSecret)
        ? randomBytes(32).toString('base64url')
        : undefined;
    const config = await this.queues.update(tenantId, queueName, {
      workers: body.workers,
      maxAttempts: body.max_attempts,
      webhookUrl: body.webhook_url,
      signingSecret: fresh,
    });
    await this.registry.declare(tenantId, queueName).catch(() => undefined);
    await this.registry.apply(config);
    this.registry.emitScaled(config);
    await this.registry.notify(tenantId, queueName);
    // The webhook's origin only: a path or query may carry the receiver's own credentials.
    await this.audit.record(tenantId, 'queue.configured', {
      queue_name: queueName,
      workers: config.workers,
      max_attempts: config.maxAttempts,
      webhook: urlOrigin(config.webhookUrl),
      signing_secret_rotated: fresh !== undefined,
    });
    return { ...toQueueConfigView(config), ...(fresh ? { signing_secret: fresh } : {}) };
  }
}
