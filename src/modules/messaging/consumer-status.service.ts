import { Inject, Injectable } from '@nestjs/common';
import { messagingConfig, type MessagingConfig } from '../../config';
import { RabbitMqService } from '../../shared/rabbitmq';
import { ConsumerRegistry } from './consumer-registry.service';
import type { ConsumerStatus } from './dto/messaging.dto';
import { messagingError } from './messaging.errors';
import { metricLabels, queueDepthGauge } from './messaging.metrics';
import { type QueueConfig, QueueConfigRepository } from './queue-config.repository';
import { queueNames } from './queue-topology';

/** Per-queue status: each live instance's figures (from their heartbeats), their total, depths. */
@Injectable()
export class ConsumerStatusService {
  constructor(
    @Inject(messagingConfig.KEY) private readonly config: MessagingConfig,
    private readonly rabbit: RabbitMqService,
    private readonly registry: ConsumerRegistry,
    private readonly queues: QueueConfigRepository,
  ) {}

  async forQueue(tenantId: string, queueName: string): Promise<ConsumerStatus> {
    const config = await this.queues.get(tenantId, queueName);
    if (!config) throw messagingError('MESSAGING.QUEUE_NOT_FOUND', `Queue ${queueName} not found`);
    const [status] = await this.describe([config]);
    return status;
  }

  /** Every queue of `tenantId`, or of every tenant when null. */
  async list(tenantId: string | null): Promise<ConsumerStatus[]> {
    const configs = tenantId ? await this.queues.forTenant(tenantId) : await this.queues.allLive();
    return this.describe(configs.slice(0, 500));
  }

  private async describe(configs: QueueConfig[]): Promise<ConsumerStatus[]> {
    const cluster = await this.registry.clusterStats();
    const out: ConsumerStatus[] = [];
    for (const config of configs) {
      const key = `${config.tenantId}/${config.queueName}`;
      const instances = [...cluster.entries()]
        .filter(([, queues]) => queues[key])
        .map(([instanceId, queues]) => ({
          instance_id: instanceId,
          ...queues[key],
          // Heartbeats of an instance of an earlier version lack these.
          consumable: queues[key].consumable ?? true,
          blocked_reason: queues[key].blocked_reason ?? null,
          arguments_outdated: queues[key].arguments_outdated ?? false,
        }));
      const blocked = instances.find((i) => !i.consumable);
      const sum = (field: 'active_workers' | 'in_flight' | 'processed' | 'failed') =>
        instances.reduce((total, i) => total + i[field], 0);
      const names = queueNames(config.tenantId, config.queueName, this.config.retryDelaysMs);
      const [depth, dead] = await Promise.all([this.depth(names.main), this.depth(names.dlq)]);
      if (depth !== null)
        queueDepthGauge.set(metricLabels(config.tenantId, config.queueName), depth);
      out.push({
        tenant_id: config.tenantId,
        queue_name: config.queueName,
        workers: config.workers,
        active_workers: sum('active_workers'),
        in_flight: sum('in_flight'),
        processed: sum('processed'),
        failed: sum('failed'),
        queue_depth: depth,
        dead_letter_depth: dead,
        is_active: instances.some((i) => i.is_active),
        consumable: !blocked,
        blocked_reason: blocked ? blocked.blocked_reason : null,
        arguments_outdated: instances.some((i) => i.arguments_outdated),
        instances,
      });
    }
    return out;
  }

  private async depth(queue: string): Promise<number | null> {
    try {
      return await this.rabbit.withChannel(async (channel) => {
        const { messageCount } = await channel.checkQueue(queue);
        return messageCount;
      });
    } catch {
      return null;
    }
  }
}
