export { ConsumerRegistry } from './consumer-registry.service';
export { type HandledMessage, MessageHandler, WebhookMessageHandler } from './message-handler';
export type { MessageView } from './dto/messaging.dto';
export { MessagesService } from './messages.service';
export {
  MESSAGING_MESSAGE_FAILED,
  MESSAGING_MESSAGE_PROCESSED,
  MESSAGING_QUEUE_SCALED,
  MessageFailedEvent,
  MessageProcessedEvent,
  QueueScaledEvent,
} from './messaging.events';
export { MessagingModule } from './messaging.module';
export { OutboxRelay } from './outbox-relay.service';
