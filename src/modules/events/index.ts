export type { EventView } from './dto/events.dto';
export * as eventsMetrics from './events.metrics';
export { EventsModule } from './events.module';
export { EventsService } from './events.service';
export { type FeedSink, FeedSubscriber } from './feed/feed-subscriber';
export { TenantFeeds } from './feed/tenant-feeds';
