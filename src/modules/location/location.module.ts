import { Module } from '@nestjs/common';
import { TenancyModule } from '../tenancy';
import { Clock, SystemClock } from './clock';
import { LocationController } from './location.controller';
import { LocationEntity } from './location.entity';
import { LocationSessionEntity } from './location-session.entity';
import { LocationSessionsService } from './location-sessions.service';
import { LocationUpdatesProducer } from './location-updates.producer';
import { LocationUpdatesService } from './location-updates.service';
import { SessionCache } from './session-cache';
import { SessionExpiryJob } from './session-expiry.job';

/** Tracking sessions, location updates through Kafka, delivery to each tenant's third party, the retry ledger. */
@Module({
  imports: [TenancyModule.forFeature([LocationSessionEntity, LocationEntity])],
  controllers: [LocationController],
  providers: [
    { provide: Clock, useClass: SystemClock },
    SessionCache,
    LocationSessionsService,
    LocationUpdatesProducer,
    LocationUpdatesService,
    SessionExpiryJob,
  ],
  exports: [LocationSessionsService],
})
export class LocationModule {}
