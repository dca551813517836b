import { Injectable, Logger } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import type { EntityManager } from 'typeorm';
import {
  cursorCodec,
  cursorParts,
  type Page,
  toPage,
  withCursorInstant,
} from '../../../shared/pagination';
import { TenantContext } from '../../../shared/tenant-context';
import { emitLifecycleEvent } from '../../../shared/lifecycle';
import { TenantDatabase } from '../../tenancy';
import type { ListLocationsQueryDto, ListSessionsQueryDto, SessionView } from './session.dto';
import { LocationEntity } from './location.entity';
import { locationError } from '../location.errors';
import {
  LOCATION_SESSION_ENDED,
  LOCATION_SESSION_STARTED,
  LocationSessionEndedEvent,
  LocationSessionStartedEvent,
} from '../location.events';
import { LocationSessionEntity } from './location-session.entity';
import { SessionCache } from './session-cache';
import { z } from 'zod';

const sessionCursor = cursorCodec(z.tuple([cursorParts.instant, cursorParts.uuid]));
const locationCursor = cursorCodec(z.tuple([cursorParts.instant, cursorParts.uuid]));

export function toSessionView(row: LocationSessionEntity): SessionView {
  return {
    id: row.id,
    user_id: row.userId,
    status: row.status,
    started_at: row.startedAt.toISOString(),
    expires_at: row.expiresAt.toISOString(),
    ended_at: row.endedAt ? row.endedAt.toISOString() : null,
    duration_seconds: row.durationSeconds,
    device_info: row.deviceInfo,
  };
}

interface RawSession {
  id: string;
  tenant_id: string;
  user_id: string;
  status: LocationSessionEntity['status'];
  started_at: Date;
  expires_at: Date;
  ended_at: Date | null;
  duration_seconds: number;
  device_info: Record<string, unknown> | null;
}

function fromRaw(raw: RawSession): LocationSessionEntity {
  return Object.assign(new LocationSessionEntity(), {
    id: raw.id,
    tenantId: raw.tenant_id,
    userId: raw.user_id,
    status: raw.status,
    startedAt: raw.started_at,
    expiresAt: raw.expires_at,
    endedAt: raw.ended_at,
    durationSeconds: raw.duration_seconds,
    deviceInfo: raw.device_info,
  });
}

/** Tracking sessions: start, stop, read, list, and a session's recorded locations. */
@Injectable()
export class LocationSessionsService {
  private readonly logger = new Logger(LocationSessionsService.name);

  constructor(
    private readonly tenantDb: TenantDatabase,
    private readonly context: TenantContext,
    private readonly cache: SessionCache,
    private readonly events: EventEmitter2,
  ) {}

  /** The calling user (a tenant member with a user id). */
  caller(): { tenantId: string; userId: string; isOwner: boolean } {
    const principal = this.context.principal;
    const tenantId = this.context.tenantId;
    if (!principal.userId || principal.via === 'api_key') {
      throw locationError(
        'LOCATION.USER_REQUIRED',
        'Tracking sessions belong to users: sign in as a member of the tenant',
      );
    }
    return {
      tenantId,
      userId: principal.userId,
      isOwner: principal.role === 'tenant_owner' || principal.isPlatformAdmin,
    };
  }

  async start(body: {
    duration_seconds: number;
    device_info: Record<string, unknown> | null;
  }): Promise<SessionView> {
    const { tenantId, userId } = this.caller();
    const { session, expired } = await this.tenantDb.run(async (manager) => {
      // A session past its expiry that the job has not reached yet does not block a new one.
      const expiredRows = await this.expireDue(manager, 'user_id = $1', [userId]);
      try {
        const [raw] = await manager.query<RawSession[]>(
          `insert into location_sessions (user_id, status, started_at, expires_at, duration_seconds, device_info)
           values ($1, 'active', now(), now() + make_interval(secs => $2), $2, $3)
           returning *`,
          [userId, body.duration_seconds, body.device_info],
        );
        return { session: fromRaw(raw), expired: expiredRows };
      } catch (error) {
        if ((error as { code?: string }).code === '23505') {
          throw locationError(
            'LOCATION.SESSION_ALREADY_ACTIVE',
            'You already have an active tracking session: stop it first',
          );
        }
        throw error;
      }
    });
    for (const row of expired) this.emitEnded(row, 'expired');
    emitLifecycleEvent(
      this.events,
      this.logger,
      LOCATION_SESSION_STARTED,
      new LocationSessionStartedEvent(tenantId, session.id, userId, session.expiresAt),
    );
    return toSessionView(session);
  }

  async stop(id: string): Promise<SessionView> {
    const { tenantId, userId } = this.caller();
    const outcome = await this.tenantDb.run(async (manager) => {
      const rows = await manager.query<[RawSession[], number]>(
        `update location_sessions
            set status = 'ended', ended_at = now(),
                duration_seconds = greatest(0, floor(extract(epoch from now() - started_at)))::int
          where id = $1 and user_id = $2 and status = 'active' and expires_at > now()
          returning *`,
        [id, userId],
      );
      const [ended] = rows[0];
      if (ended) return { ended: fromRaw(ended), expired: [] as LocationSessionEntity[] };
      const current = await manager.getRepository(LocationSessionEntity).findOneBy({ id, userId });
      if (!current) throw this.notFound(id);
      const expired = await this.expireDue(manager, 'id = $1', [id]);
      return { ended: null, expired, status: expired.length ? 'expired' : current.status };
    });
    this.cache.evict(tenantId, id);
    for (const row of outcome.expired) this.emitEnded(row, 'expired');
    if (!outcome.ended) {
      throw locationError(
        'LOCATION.SESSION_NOT_ACTIVE',
        `Session ${id} is not active (${outcome.status ?? 'ended'})`,
      );
    }
    this.emitEnded(outcome.ended, 'ended');
    return toSessionView(outcome.ended);
  }

  async get(id: string): Promise<SessionView> {
    const caller = this.caller();
    const row = await this.tenantDb.run((manager) =>
      manager
        .getRepository(LocationSessionEntity)
        .findOneBy(caller.isOwner ? { id } : { id, userId: caller.userId }),
    );
    if (!row) throw this.notFound(id);
    return toSessionView(row);
  }

  async list(query: ListSessionsQueryDto): Promise<Page<SessionView>> {
    const caller = this.caller();
    const userId = caller.isOwner ? query.user_id : caller.userId;
    const after = query.cursor ? sessionCursor.decode(query.cursor) : null;
    const rows = await this.tenantDb.run((manager) => {
      const q = manager
        .getRepository(LocationSessionEntity)
        .createQueryBuilder('s')
        .orderBy('s.started_at', 'DESC')
        .addOrderBy('s.id', 'DESC')
        .limit(query.limit + 1);
      if (userId !== undefined) q.andWhere('s.user_id = :userId', { userId });
      if (query.status) q.andWhere('s.status = :status', { status: query.status });
      if (after) {
        q.andWhere('(s.started_at, s.id) < (:at::timestamptz, :id::uuid)', {
          at: after[0],
          id: after[1],
        });
      }
      return withCursorInstant(q, 's.started_at');
    });
    return toPage(
      rows,
      query.limit,
      ({ row }) => toSessionView(row),
      ({ row, at }) => sessionCursor.encode([at, row.id]),
    );
  }

  async locations(id: string, query: ListLocationsQueryDto) {
    await this.get(id); // 404 unless the caller may read the session
    const after = query.cursor ? locationCursor.decode(query.cursor) : null;
    const dir = query.order === 'desc' ? 'DESC' : 'ASC';
    const rows = await this.tenantDb.run((manager) => {
      const q = manager
        .getRepository(LocationEntity)
        .createQueryBuilder('l')
        .where('l.session_id = :id', { id })
        .orderBy('l.recorded_at', dir)
        .addOrderBy('l.event_id', dir)
        .limit(query.limit + 1);
      if (after) {
        const op = dir === 'ASC' ? '>' : '<';
        q.andWhere(`(l.recorded_at, l.event_id) ${op} (:at::timestamptz, :eid::uuid)`, {
          at: after[0],
          eid: after[1],
        });
      }
      return withCursorInstant(q, 'l.recorded_at');
    });
    return toPage(
      rows,
      query.limit,
      ({ row }) => ({
        event_id: row.eventId,
        session_id: row.sessionId,
        user_id: row.userId,
        latitude: row.latitude,
        longitude: row.longitude,
        accuracy: row.accuracy,
        recorded_at: row.recordedAt.toISOString(),
        received_at: row.receivedAt.toISOString(),
      }),
      ({ row, at }) => locationCursor.encode([at, row.eventId]),
    );
  }

  emitEnded(row: LocationSessionEntity, status: 'ended' | 'expired' | 'cancelled'): void {
    emitLifecycleEvent(
      this.events,
      this.logger,
      LOCATION_SESSION_ENDED,
      new LocationSessionEndedEvent(row.tenantId, row.id, row.userId, status),
    );
  }

  notFound(id: string) {
    return locationError('LOCATION.SESSION_NOT_FOUND', `Session ${id} not found`);
  }

  /** Marks this tenant's active sessions past expires_at (matching `where`) expired. */
  private async expireDue(
    manager: EntityManager,
    where: string,
    params: unknown[],
  ): Promise<LocationSessionEntity[]> {
    const [rows] = await manager.query<[RawSession[], number]>(
      `update location_sessions
          set status = 'expired', ended_at = expires_at,
              duration_seconds = greatest(0, floor(extract(epoch from expires_at - started_at)))::int
        where status = 'active' and expires_at <= now() and ${where}
        returning *`,
      params,
    );
    return rows.map(fromRaw);
  }
}
