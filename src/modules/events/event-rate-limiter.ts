import { Inject, Injectable, Logger } from '@nestjs/common';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { DataSource } from 'typeorm';
import { eventsConfig, type EventsConfig, redisConfig, type RedisConfig } from '../../config';
import { RedisService } from '../../shared/redis';
import { tenantNotFound } from '../tenancy';
import { eventsError } from './events.errors';
import { eventsRejected } from './events.metrics';
import { tenantLabel } from '../../shared/metrics';

export interface RateLimit {
  points: number;
  window_seconds: number;
  /** `override` when a platform admin set the tenant's own limit. */
  origin: 'default' | 'override';
}

export interface RateLimitState {
  limit: number;
  remaining: number;
}

/**
 * Ingestion limits per tenant, counted in Redis (one counter per tenant and window, shared by
 * every instance). One point per event. Over the limit: 429 with Retry-After; Redis down: 503.
 * A tenant's override lives in the platform database and is re-read every overrideCacheMs.
 */
@Injectable()
export class EventRateLimiter {
  private readonly logger = new Logger(EventRateLimiter.name);
  private readonly limiters = new Map<string, RateLimiterRedis>();
  private readonly overrides = new Map<string, { limit: RateLimit; until: number }>();
  private readonly keyPrefix: string;

  constructor(
    private readonly redis: RedisService,
    private readonly platform: DataSource,
    @Inject(eventsConfig.KEY) private readonly config: EventsConfig,
    @Inject(redisConfig.KEY) redisConf: RedisConfig,
  ) {
    this.keyPrefix = `${redisConf.keyPrefix}events:rl`;
  }

  /** Counts `points` events for the tenant; throws 429 or 503. */
  async consume(tenantId: string, points: number): Promise<RateLimitState> {
    const limit = await this.limitOf(tenantId);
    const limiter = this.limiter(limit);
    try {
      const res = await limiter.consume(tenantId, points);
      return { limit: limit.points, remaining: Math.max(0, res.remainingPoints) };
    } catch (outcome) {
      if (outcome instanceof RateLimiterRes) {
        eventsRejected.inc({ reason: 'rate_limited', tenant_id: tenantLabel(tenantId) });
        const retryAfter = Math.max(1, Math.ceil(outcome.msBeforeNext / 1000));
        throw eventsError(
          'EVENTS.RATE_LIMITED',
          `Rate limit of ${limit.points} events per ${limit.window_seconds} s reached; retry in ${retryAfter} s`,
        ).withHeaders({
          'Retry-After': String(retryAfter),
          'X-RateLimit-Limit': String(limit.points),
          'X-RateLimit-Remaining': String(Math.max(0, outcome.remainingPoints)),
        });
      }
      eventsRejected.inc({ reason: 'limiter_down', tenant_id: tenantLabel(tenantId) });
      this.logger.warn({ err: outcome }, 'Event rate limiter store unavailable');
      throw eventsError(
        'EVENTS.RATE_LIMITER_UNAVAILABLE',
        'Rate limits cannot be checked right now; try again shortly',
      ).withHeaders({ 'Retry-After': '1' });
    }
  }

  /** The tenant's limit: its override, else the configured default. */
  async limitOf(tenantId: string): Promise<RateLimit> {
    const cached = this.overrides.get(tenantId);
    if (cached && cached.until > Date.now()) return cached.limit;
    let limit: RateLimit = {
      points: this.config.rateLimit.points,
      window_seconds: this.config.rateLimit.windowSeconds,
      origin: 'default',
    };
    try {
      const rows = await this.platform.query<Array<{ points: number; window_seconds: number }>>(
        'select points, window_seconds from tenant_event_rate_limits where tenant_id = $1',
        [tenantId],
      );
      if (rows[0]) limit = { ...rows[0], origin: 'override' };
    } catch (error) {
      // The platform database does not answer: keep the last known limit, else the default.
      this.logger.warn({ err: error, tenantId }, 'Rate limit override not read');
      if (cached) return cached.limit;
    }
    this.overrides.set(tenantId, {
      limit,
      until: Date.now() + this.config.rateLimit.overrideCacheMs,
    });
    if (this.overrides.size > 10_000) this.overrides.delete(this.overrides.keys().next().value!);
    return limit;
  }

  /** The limit in force for a known tenant, read fresh (404 for an unknown tenant). */
  async describe(tenantId: string): Promise<RateLimit> {
    await this.assertTenant(tenantId);
    this.overrides.delete(tenantId);
    return this.limitOf(tenantId);
  }

  /** Sets (or with null, removes) a tenant's override; 404 for an unknown tenant. */
  async setOverride(
    tenantId: string,
    value: { points: number; window_seconds: number } | null,
    actor?: string,
  ): Promise<RateLimit> {
    await this.assertTenant(tenantId);
    if (value) {
      await this.platform.query(
        `insert into tenant_event_rate_limits (tenant_id, points, window_seconds, updated_by)
         values ($1, $2, $3, $4)
         on conflict (tenant_id) do update
           set points = excluded.points, window_seconds = excluded.window_seconds,
               updated_by = excluded.updated_by, updated_at = now()`,
        [tenantId, value.points, value.window_seconds, actor ?? null],
      );
    } else {
      await this.platform.query('delete from tenant_event_rate_limits where tenant_id = $1', [
        tenantId,
      ]);
    }
    this.overrides.delete(tenantId);
    return this.limitOf(tenantId);
  }

  private async assertTenant(tenantId: string): Promise<void> {
    const known = await this.platform.query<Array<{ id: string }>>(
      `select id from tenants where id = $1 and status <> 'deleted'`,
      [tenantId],
    );
    if (!known.length) throw tenantNotFound(tenantId);
  }

  private limiter(limit: RateLimit): RateLimiterRedis {
    const key = `${limit.points}:${limit.window_seconds}`;
    let limiter = this.limiters.get(key);
    if (!limiter) {
      limiter = new RateLimiterRedis({
        storeClient: this.redis.client,
        points: limit.points,
        duration: limit.window_seconds,
        keyPrefix: `${this.keyPrefix}:${limit.window_seconds}`,
        rejectIfRedisNotReady: true,
      });
      this.limiters.set(key, limiter);
    }
    return limiter;
  }
}
