import { Module } from '@nestjs/common';
import { OutboundModule } from '../../shared/outbound';
import { TenancyModule } from '../tenancy';
import { ConsumerRegistry } from './consumer-registry.service';
import { ConsumerStatusService } from './consumer-status.service';
import { MessageHandler, WebhookMessageHandler } from './message-handler';
import { MessagesRepository } from './messages.repository';
import { MessagesService } from './messages.service';
import { MessagingAccess } from './messaging-access';
import { MessagingController } from './messaging.controller';
import { MessagingLifecycleListener } from './messaging-lifecycle.listener';
import { OutboxRelay } from './outbox-relay.service';
import { OutboxService } from './outbox.service';
import { QueueConfigRepository } from './queue-config.repository';
import { QueueSettingsService } from './queue-settings.service';
import { WorkerDbSlots } from './worker-db-slots';
import { TenantQueueWorker } from './tenant-queue.worker';

@Module({
  imports: [TenancyModule.forFeature([]), OutboundModule],
  controllers: [MessagingController],
  providers: [
    WebhookMessageHandler,
    { provide: MessageHandler, useExisting: WebhookMessageHandler },
    QueueConfigRepository,
    ConsumerRegistry,
    MessagesRepository,
    TenantQueueWorker,
    OutboxService,
    MessagesService,
    OutboxRelay,
    QueueSettingsService,
    ConsumerStatusService,
    MessagingAccess,
    MessagingLifecycleListener,
    WorkerDbSlots,
  ],
  exports: [MessagesService, ConsumerRegistry],
})
export class MessagingModule {}
