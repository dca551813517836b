export type { EventView } from './dto/events.dto';
export { EventsBus, type FeedMessage, type LiveOnlyEvent } from './events-bus';
export * as eventsMetrics from './events.metrics';
export { EventsModule } from './events.module';
export { EventsService } from './events.service';
