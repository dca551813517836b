import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { RedisService } from '../redis';

/** What ended or changed, as every instance hears it. */
export type Revocation =
  | { kind: 'session'; sessionId: string; userId?: string }
  | { kind: 'user'; tenantId: string; userId: string }
  /** A member's role in a tenant changed: what was admitted with the old role is stale. */
  | { kind: 'role'; tenantId: string; userId: string }
  /** The user's memberships or role changed: whatever an instance remembers of their sessions is stale. */
  | { kind: 'memberships'; userId: string }
  | { kind: 'key'; keyId: string }
  | { kind: 'tenant'; tenantId: string };

export interface RevocationListener {
  /** A revocation made here or on another instance (each heard once). */
  revoked(revocation: Revocation): void;
  /** The channel was down: revocations may have been missed. */
  lost(): void;
}

/**
 * The Redis channel every instance hears credential revocations on: ended sessions, removed
 * memberships, revoked API keys, deleted tenants. `publish` tells this instance's listeners at
 * once, then every other instance. `live` is false while the subscriber is not connected and
 * subscribed: anything an instance keeps about credentials must not be trusted then.
 */
@Injectable()
export class RevocationChannel implements OnApplicationShutdown {
  private readonly logger = new Logger(RevocationChannel.name);
  private readonly channel: string;
  private readonly subscriber: Redis;
  // Messages this instance published come back through its own subscriber: skipped.
  private readonly origin = randomUUID();
  private readonly listeners = new Set<RevocationListener>();
  private subscribed = false;
  private closing = false;

  constructor(private readonly redis: RedisService) {
    this.channel = redis.key('ws:revocations');
    this.subscriber = redis.createSubscriber('revocations');
    this.subscriber.on('message', (channel: string, raw: string) => {
      if (channel === this.channel) this.received(raw);
    });
    this.subscriber.on('close', () => this.down());
    // At every connection (the first and after a reconnection): subscribed before anything is
    // trusted (ioredis's own resubscription does not tell when it is done). Startup never waits.
    this.subscriber.on('ready', () => this.subscribe());
  }

  /** The subscriber is connected and subscribed: every revocation published reaches this instance. */
  get live(): boolean {
    return this.subscribed && this.subscriber.status === 'ready';
  }

  listen(listener: RevocationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onApplicationShutdown(): void {
    this.closing = true;
    this.listeners.clear();
  }

  /**
   * Tells this instance's listeners, then every other instance. Never throws: when Redis does
   * not take the message, the others drop what they keep when their own cache entries expire.
   */
  async publish(revocation: Revocation): Promise<void> {
    this.deliver(revocation);
    try {
      await this.redis.client.publish(
        this.channel,
        JSON.stringify({ ...revocation, origin: this.origin }),
      );
    } catch (error) {
      this.logger.warn({ err: error, revocation }, 'Revocation not published to other instances');
    }
  }

  private subscribe(): void {
    if (this.closing) return;
    this.subscriber
      .subscribe(this.channel)
      .then(() => {
        this.subscribed = true;
      })
      .catch((error: unknown) =>
        this.logger.warn({ err: error }, 'Revocation channel not subscribed yet'),
      );
  }

  private down(): void {
    const was = this.subscribed;
    this.subscribed = false;
    if (was) for (const listener of this.listeners) listener.lost();
  }

  private received(raw: string): void {
    let message: Revocation & { origin?: string };
    try {
      message = JSON.parse(raw) as Revocation & { origin?: string };
    } catch (error) {
      this.logger.warn({ err: error }, 'Unreadable revocation dropped');
      return;
    }
    if (message.origin === this.origin) return;
    delete message.origin;
    this.deliver(message);
  }

  private deliver(revocation: Revocation): void {
    for (const listener of this.listeners) {
      try {
        listener.revoked(revocation);
      } catch (error) {
        this.logger.warn({ err: error, revocation }, 'Revocation not applied');
      }
    }
  }
}
