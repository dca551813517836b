import { Inject, Injectable } from '@nestjs/common';
import { messagingConfig, type MessagingConfig } from '../../config';
import { BatchSlots } from '../../shared/batching';

/**
 * The statements messaging runs behind the publish path (workers' claims and completions, the
 * outbox's clears), all tenants together, at most MESSAGING_WORKER_DB_STATEMENTS at once: the
 * tenant pool keeps connections free for publishes, whose answer waits on their statement,
 * and what waits for a slot joins a larger batch instead of queueing on the pool.
 */
@Injectable()
export class WorkerDbSlots extends BatchSlots {
  constructor(@Inject(messagingConfig.KEY) config: MessagingConfig) {
    super(config.workerDbStatements);
  }
}
