import { Module } from '@nestjs/common';
import { TenancyModule } from '../tenancy';
import { EventLimitsController } from './event-limits.controller';
import { EventRateLimiter } from './event-rate-limiter';
import { EventsBus } from './events-bus';
import { EventsController } from './events.controller';
import { EventsService } from './events.service';
import { LifecycleFeedListener } from './lifecycle-feed.listener';

@Module({
  imports: [TenancyModule.forFeature([])],
  controllers: [EventsController, EventLimitsController],
  providers: [EventsService, EventsBus, EventRateLimiter, LifecycleFeedListener],
  exports: [EventsService, EventsBus],
})
export class EventsModule {}
