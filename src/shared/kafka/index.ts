export {
  type ConsumerState,
  handleByTenant,
  type InboundMessage,
  isClientAppError,
  KafkaConsumerRunner,
  type RawMessage,
} from './kafka-consumer';
export { KafkaModule } from './kafka.module';
export { KafkaService, type PreparedMessage } from './kafka.service';
