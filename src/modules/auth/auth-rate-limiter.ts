import { Inject, Injectable, Logger } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { authConfig, type AuthConfig, redisConfig, type RedisConfig } from '../../config';
import { RedisService } from '../../shared/redis';
import { authError, sessionStoreDown } from './auth.errors';

/**
 * Login and refresh attempts, counted per account and per client IP in Redis (shared by every
 * instance). Over the limit: 429 with Retry-After. Redis down: 503 (never unlimited).
 */
@Injectable()
export class AuthRateLimiter {
  private readonly logger = new Logger(AuthRateLimiter.name);
  private readonly perAccount: RateLimiterRedis;
  private readonly perIp: RateLimiterRedis;

  constructor(
    redis: RedisService,
    @Inject(authConfig.KEY) config: AuthConfig,
    @Inject(redisConfig.KEY) redisConf: RedisConfig,
  ) {
    const common = {
      storeClient: redis.client,
      duration: config.limitWindowSeconds,
      rejectIfRedisNotReady: true,
    };
    this.perAccount = new RateLimiterRedis({
      ...common,
      points: config.limitPerAccount,
      keyPrefix: `${redisConf.keyPrefix}auth:rl:account`,
    });
    this.perIp = new RateLimiterRedis({
      ...common,
      points: config.limitPerIp,
      keyPrefix: `${redisConf.keyPrefix}auth:rl:ip`,
    });
  }

  /** Counts one attempt for the IP, then for the account (an e-mail or any stable account key). */
  async attempt(account: string | undefined, ip: string | undefined): Promise<void> {
    if (ip) await this.consume(this.perIp, ip, 'this address');
    if (account) await this.consume(this.perAccount, digest(account), 'this account');
  }

  private async consume(limiter: RateLimiterRedis, key: string, what: string): Promise<void> {
    try {
      await limiter.consume(key);
    } catch (outcome) {
      if (outcome instanceof RateLimiterRes) {
        const retryAfter = Math.max(1, Math.ceil(outcome.msBeforeNext / 1000));
        throw authError(
          'AUTH.RATE_LIMITED',
          `Too many attempts for ${what}; retry in ${retryAfter} s`,
        ).withHeaders({
          'Retry-After': String(retryAfter),
        });
      }
      this.logger.warn({ err: outcome }, 'Rate limiter store unavailable');
      throw sessionStoreDown();
    }
  }
}

// Keys never hold an e-mail address or a token in clear.
const digest = (value: string) => createHash('sha256').update(value).digest('base64url');
