import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { Redis } from 'ioredis';
import { redisConfig, type RedisConfig } from '../../config';
import { certificateStartupError } from '../errors';

/**
 * The shared Redis connection. Commands fail fast while Redis is unreachable (no offline
 * queue) and when it stops answering (REDIS_COMMAND_TIMEOUT_MS), so callers answer 503 at once
 * instead of hanging; ioredis reconnects by itself. Subscribers have no command timeout.
 *
 * The shared connection auto-pipelines: the commands concurrent requests send in one tick go
 * out in one write (a session lookup costs about half the CPU at 32 concurrent requests). It
 * runs no blocking command and no SUBSCRIBE (subscribers have their own connections); MULTI
 * transactions and explicit pipelines are sent as they are.
 */
@Injectable()
export class RedisService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RedisService.name);
  readonly client: Redis;
  private readonly subscribers: Redis[] = [];

  constructor(@Inject(redisConfig.KEY) private readonly config: RedisConfig) {
    this.client = this.connect('main', {
      commandTimeout: config.commandTimeoutMs,
      enableAutoPipelining: true,
    });
  }

  /**
   * Waits for the first connection attempt's outcome (bounded by its connect timeout): a server
   * certificate the CA cannot verify stops the start with one clear line, since reconnecting
   * cannot fix it; any other failure (Redis down) is left to the reconnects, and readiness
   * answers 503 meanwhile.
   */
  async onModuleInit(): Promise<void> {
    if (this.client.status === 'ready') return;
    const failure = await new Promise<Error | null>((done) => {
      const ready = () => finish(null);
      const failed = (error: Error) => finish(error);
      const finish = (outcome: Error | null) => {
        this.client.off('ready', ready).off('error', failed);
        done(outcome);
      };
      this.client.once('ready', ready).once('error', failed);
    });
    const host = new URL(this.config.url).host;
    const startup = failure && certificateStartupError('Redis', host, 'REDIS_TLS_CA', failure);
    if (startup) {
      this.client.disconnect();
      throw startup;
    }
  }

  /** A dedicated connection for SUBSCRIBE (a subscribed connection can run nothing else). */
  createSubscriber(name: string): Redis {
    const subscriber = this.connect(name, { enableOfflineQueue: true });
    this.subscribers.push(subscriber);
    return subscriber;
  }

  /** A key or channel name under REDIS_KEY_PREFIX (every Redis user names its keys through this). */
  key(name: string): string {
    return `${this.config.keyPrefix}${name}`;
  }

  async ping(): Promise<void> {
    await this.client.ping();
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled([this.client, ...this.subscribers].map((c) => c.quit()));
  }

  private connect(
    name: string,
    overrides: {
      enableOfflineQueue?: boolean;
      commandTimeout?: number;
      enableAutoPipelining?: boolean;
    } = {},
  ): Redis {
    const client = new Redis(this.config.url, {
      connectionName: `tessera-${name}`,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      connectTimeout: 2_000,
      retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
      ...(this.config.username && { username: this.config.username }),
      ...(this.config.password && { password: this.config.password }),
      ...(this.config.tls && { tls: this.config.tls.ca ? { ca: this.config.tls.ca } : {} }),
      ...overrides,
    });
    let healthy = true;
    client.on('error', (error: Error) => {
      if (healthy) this.logger.warn({ err: error, connection: name }, 'Redis connection error');
      healthy = false;
    });
    client.on('ready', () => {
      if (!healthy) this.logger.log({ connection: name }, 'Redis connection restored');
      healthy = true;
    });
    return client;
  }
}
