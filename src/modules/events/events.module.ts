import { Module } from '@nestjs/common';
import { TenancyModule } from '../tenancy';
import { EventLimitsController } from './event-limits.controller';
import { EventRateLimiter } from './event-rate-limiter';
import { EventsBus } from './events-bus';
import { EventsController } from './events.controller';
import { EventsService } from './events.service';

@Module({
  imports: [TenancyModule.forFeature([])],
  controllers: [EventsController, EventLimitsController],
  providers: [EventsService, EventsBus, EventRateLimiter],
  exports: [EventsService, EventsBus],
})
export class EventsModule {}
