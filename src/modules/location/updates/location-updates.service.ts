import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { locationConfig, type LocationConfig } from '../../../config';
import { locationError } from '../location.errors';
import { updatesAccepted, updatesRefused } from '../location.metrics';
import { LocationSessionsService } from '../sessions/location-sessions.service';
import { LocationUpdatesProducer } from './location-updates.producer';
import type { LocationUpdateMessage } from './location-update.message';
import { SessionCache } from '../sessions/session-cache';
import { tenantLabel } from '../../../shared/metrics';

interface Point {
  latitude: number;
  longitude: number;
  accuracy: number | null;
  recorded_at?: string;
}

const FUTURE_TOLERANCE_MS = 30_000;

/**
 * `POST /location/update(s)`: checks the session (from the cache), validates the points
 * against it, and answers only once Kafka acknowledged every record (acks=all); a broker that
 * does not answer within `LOCATION_PRODUCE_TIMEOUT_MS` is a 503 with Retry-After.
 */
@Injectable()
export class LocationUpdatesService {
  private readonly logger = new Logger(LocationUpdatesService.name);

  constructor(
    private readonly sessions: LocationSessionsService,
    private readonly cache: SessionCache,
    private readonly producer: LocationUpdatesProducer,
    @Inject(locationConfig.KEY) private readonly config: LocationConfig,
  ) {}

  async accept(
    sessionId: string,
    points: Point[],
    field: (i: number) => string,
  ): Promise<string[]> {
    const { tenantId, userId } = this.sessions.caller();
    const session = await this.cache.get(tenantId, sessionId);
    if (!session || session.userId !== userId) throw this.sessions.notFound(sessionId);
    const now = Date.now();
    if (session.status !== 'active' || session.expiresAt <= now) {
      throw locationError(
        'LOCATION.SESSION_NOT_ACTIVE',
        `Session ${sessionId} is not active (${session.status === 'active' ? 'expired' : session.status})`,
      );
    }
    const receivedAt = new Date(now).toISOString();
    const records: LocationUpdateMessage[] = points.map((point, index) => {
      const recordedMs = point.recorded_at
        ? Date.parse(point.recorded_at)
        : Math.max(now, session.startedAt);
      if (recordedMs > now + FUTURE_TOLERANCE_MS) {
        throw this.invalid(field(index), 'must not be more than 30 s in the future');
      }
      if (recordedMs < session.startedAt) {
        throw this.invalid(field(index), 'must not be before the session started');
      }
      return {
        v: 1,
        event_id: randomUUID(),
        tenant_id: tenantId,
        session_id: sessionId,
        user_id: userId,
        latitude: point.latitude,
        longitude: point.longitude,
        accuracy: point.accuracy,
        recorded_at: new Date(recordedMs).toISOString(),
        received_at: receivedAt,
      };
    });
    await this.produce(records);
    updatesAccepted.inc({ tenant_id: tenantLabel(tenantId) }, records.length);
    return records.map((record) => record.event_id);
  }

  private async produce(records: LocationUpdateMessage[]): Promise<void> {
    const abort = new AbortController();
    const sent = this.producer.produce(
      records.map((record) => ({
        key: record.session_id,
        value: JSON.stringify(record),
        headers: { 'x-event-id': record.event_id, 'x-user-id': record.user_id },
      })),
      abort.signal,
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.config.produceTimeoutMs);
    });
    try {
      const outcome = await Promise.race([sent.then(() => 'sent' as const), timeout]);
      if (outcome === 'timeout') throw new Error('Kafka did not acknowledge in time');
    } catch (error) {
      // The record may still land later (then it is persisted and delivered like any other);
      // the caller was never told 202, so nothing it was promised is missing.
      sent.catch(() => undefined);
      abort.abort();
      updatesRefused.inc({ tenant_id: tenantLabel(records[0]?.tenant_id) }, records.length);
      this.logger.warn({ err: error }, 'Location update not acknowledged by Kafka');
      const retryAfter = String(Math.max(1, Math.ceil(this.config.produceTimeoutMs / 1000)));
      throw locationError(
        'LOCATION.BROKER_UNAVAILABLE',
        'The update could not be stored now; retry later',
      ).withHeaders({ 'Retry-After': retryAfter });
    } finally {
      clearTimeout(timer);
    }
  }

  private invalid(field: string, message: string) {
    return locationError('LOCATION.INVALID_UPDATE', `Invalid input: ${field}: ${message}`, [
      { field, message },
    ]);
  }
}
