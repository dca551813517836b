export { EventsModule } from './events.module';
export { type FeedSink, FeedSubscriber } from './feed/feed-subscriber';
export { TenantFeeds } from './feed/tenant-feeds';
export { eventViewSchema } from './dto/events.dto';
