import { Module } from '@nestjs/common';
import { TenancyModule } from '../tenancy';
import { Clock, SystemClock } from './clock';
import { DeadLetterProducer } from './dead-letter.producer';
import { DeliveryController, RetryController, StreamingController } from './delivery.controller';
import { DeliveryService } from './delivery.service';
import { DeliverySettingsService } from './delivery-settings.service';
import { LocationController } from './location.controller';
import { LocationDlqConsumer } from './location-dlq.consumer';
import { LocationPersisterConsumer } from './location-persister.consumer';
import { LocationStreamerConsumer } from './location-streamer.consumer';
import { LocationEntity } from './location.entity';
import { LocationSessionEntity } from './location-session.entity';
import { LocationSessionsService } from './location-sessions.service';
import { LocationUpdatesProducer } from './location-updates.producer';
import { LocationUpdatesService } from './location-updates.service';
import { SessionCache } from './session-cache';
import { RetryLedgerRepository } from './retry-ledger.repository';
import { RetryLedgerService } from './retry-ledger.service';
import { RetryWorker } from './retry.worker';
import { SessionExpiryJob } from './session-expiry.job';
import { StreamingHealthService } from './streaming-health.service';

/** Tracking sessions, location updates through Kafka, delivery to each tenant's third party, the retry ledger. */
@Module({
  imports: [TenancyModule.forFeature([LocationSessionEntity, LocationEntity])],
  controllers: [LocationController, DeliveryController, RetryController, StreamingController],
  providers: [
    { provide: Clock, useClass: SystemClock },
    SessionCache,
    LocationSessionsService,
    LocationUpdatesProducer,
    LocationUpdatesService,
    SessionExpiryJob,
    DeliverySettingsService,
    DeliveryService,
    DeadLetterProducer,
    RetryLedgerRepository,
    RetryLedgerService,
    LocationPersisterConsumer,
    LocationStreamerConsumer,
    LocationDlqConsumer,
    RetryWorker,
    StreamingHealthService,
  ],
  exports: [LocationSessionsService],
})
export class LocationModule {}
