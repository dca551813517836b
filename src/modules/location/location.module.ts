import { Module } from '@nestjs/common';
import { TenancyModule } from '../tenancy';
import { Clock, SystemClock } from './clock';
import { DeadLetterProducer } from './delivery/dead-letter.producer';
import { DeliveryController } from './delivery/delivery.controller';
import { DeliveryService } from './delivery/delivery.service';
import { DeliverySettingsService } from './delivery/delivery-settings.service';
import { LocationDlqConsumer } from './delivery/location-dlq.consumer';
import { LocationStreamerConsumer } from './delivery/location-streamer.consumer';
import { RetryController } from './delivery/retry.controller';
import { RetryLedgerRepository } from './delivery/retry-ledger.repository';
import { RetryLedgerService } from './delivery/retry-ledger.service';
import { RetryWorker } from './delivery/retry.worker';
import { StreamingController } from './delivery/streaming.controller';
import { StreamingHealthService } from './delivery/streaming-health.service';
import { LocationController } from './location.controller';
import { LocationEntity } from './sessions/location.entity';
import { LocationSessionEntity } from './sessions/location-session.entity';
import { LocationSessionsService } from './sessions/location-sessions.service';
import { SessionCache } from './sessions/session-cache';
import { SessionExpiryJob } from './sessions/session-expiry.job';
import { LocationPersisterConsumer } from './updates/location-persister.consumer';
import { LocationUpdatesProducer } from './updates/location-updates.producer';
import { LocationUpdatesService } from './updates/location-updates.service';

/**
 * Tracking sessions (`sessions/`), location updates through Kafka (`updates/`), delivery to each
 * tenant's third party and the retry ledger (`delivery/`).
 */
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
