import { Module } from '@nestjs/common';
import { TenancyModule } from '../tenancy';
import { EventLimitsController } from './event-limits.controller';
import { EventRateLimiter } from './event-rate-limiter';
import { EventsController } from './events.controller';
import { EventsService } from './events.service';
import { EventsBus } from './feed/events-bus';
import { TenantFeeds } from './feed/tenant-feeds';
import { LifecycleFeedListener } from './lifecycle-feed.listener';

@Module({
  imports: [TenancyModule.forFeature([])],
  controllers: [EventsController, EventLimitsController],
  providers: [EventsService, EventsBus, TenantFeeds, EventRateLimiter, LifecycleFeedListener],
  exports: [EventsService, TenantFeeds],
})
export class EventsModule {}
