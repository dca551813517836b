import { Injectable } from '@nestjs/common';
import { OutboundHttp } from '../../shared/outbound';
import { ConsumerRegistry } from './consumer-registry.service';
import { type QueueConfig, QueueConfigService } from './queue-config.service';

export interface QueueConfigView {
  tenant_id: string;
  queue_name: string;
  workers: number;
  max_attempts: number;
  webhook_url: string | null;
  updated_at: string;
}

export function toQueueConfigView(config: QueueConfig): QueueConfigView {
  return {
    tenant_id: config.tenantId,
    queue_name: config.queueName,
    workers: config.workers,
    max_attempts: config.maxAttempts,
    webhook_url: config.webhookUrl,
    updated_at: config.updatedAt.toISOString(),
  };
}

/** Configuration changes: stored first, then every instance told (and this one applies at once). */
@Injectable()
export class QueueSettingsService {
  constructor(
    private readonly queues: QueueConfigService,
    private readonly registry: ConsumerRegistry,
    private readonly outbound: OutboundHttp,
  ) {}

  async setTenantWorkers(
    tenantId: string,
    workers: number,
  ): Promise<{ tenant_id: string; workers: number; queues: QueueConfigView[] }> {
    const configs = await this.queues.updateAll(tenantId, workers);
    for (const config of configs) {
      await this.registry.declare(tenantId, config.queueName).catch(() => undefined);
      await this.registry.apply(config);
      this.registry.emitScaled(config);
    }
    await this.registry.notify(tenantId);
    return { tenant_id: tenantId, workers, queues: configs.map(toQueueConfigView) };
  }

  async configureQueue(
    tenantId: string,
    queueName: string,
    body: { workers: number; max_attempts?: number; webhook_url?: string | null },
  ): Promise<QueueConfigView> {
    if (body.webhook_url) await this.outbound.assertAllowedUrl(body.webhook_url, 'webhook_url');
    const config = await this.queues.update(tenantId, queueName, {
      workers: body.workers,
      maxAttempts: body.max_attempts,
      webhookUrl: body.webhook_url,
    });
    await this.registry.declare(tenantId, queueName).catch(() => undefined);
    await this.registry.apply(config);
    this.registry.emitScaled(config);
    await this.registry.notify(tenantId, queueName);
    return toQueueConfigView(config);
  }
}
