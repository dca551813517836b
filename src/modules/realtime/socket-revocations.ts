import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import type { Redis } from 'ioredis';
import { RedisService } from '../../shared/redis';
import { SESSION_REVOKED, USER_REMOVED } from '../auth';
import { API_KEY_REVOKED, TENANT_DELETED } from '../tenancy';
import { RealtimeGateway } from './realtime.gateway';
import type { SocketClient } from './socket-client';

/** What ended, as every instance hears it on Redis. */
export type Revocation =
  | { kind: 'session'; sessionId: string }
  | { kind: 'user'; tenantId: string; userId: string }
  | { kind: 'key'; keyId: string }
  | { kind: 'tenant'; tenantId: string };

/** Lifecycle event (the names auth and tenancy export) → the revocation it means. */
const CAUSES: Record<string, (p: Record<string, unknown>) => Revocation | undefined> = {
  [SESSION_REVOKED]: (p) =>
    str(p.sessionId) ? { kind: 'session', sessionId: str(p.sessionId)! } : undefined,
  [USER_REMOVED]: (p) =>
    str(p.tenantId) && str(p.userId)
      ? { kind: 'user', tenantId: str(p.tenantId)!, userId: str(p.userId)! }
      : undefined,
  [API_KEY_REVOKED]: (p) => (str(p.keyId) ? { kind: 'key', keyId: str(p.keyId)! } : undefined),
  [TENANT_DELETED]: (p) =>
    str(p.tenantId) ? { kind: 'tenant', tenantId: str(p.tenantId)! } : undefined,
};

const REASONS: Record<Revocation['kind'], string> = {
  session: 'session ended',
  user: 'membership removed',
  key: 'API key revoked',
  tenant: 'tenant deleted',
};

/**
 * Closes open sockets (4401) whose credential ended: a session revoked or logged out, a membership
 * removed, an API key revoked, a tenant deleted. The instance that hears the in-process event
 * closes its own sockets at once and publishes on Redis, so every other instance closes its own.
 */
@Injectable()
export class SocketRevocations implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(SocketRevocations.name);
  private readonly channel: string;
  private readonly subscriber: Redis;
  private readonly listeners: Array<[string, (payload: unknown) => void]> = [];

  constructor(
    private readonly emitter: EventEmitter2,
    private readonly redis: RedisService,
    private readonly gateway: RealtimeGateway,
  ) {
    this.channel = redis.key('ws:revocations');
    this.subscriber = redis.createSubscriber('ws-revocations');
    this.subscriber.on('message', (channel: string, raw: string) => {
      if (channel !== this.channel) return;
      try {
        this.apply(JSON.parse(raw) as Revocation);
      } catch (error) {
        this.logger.warn({ err: error }, 'Unreadable revocation dropped');
      }
    });
  }

  onModuleInit(): void {
    for (const [name, cause] of Object.entries(CAUSES)) {
      const listener = (payload: unknown) => {
        try {
          const revocation =
            payload && typeof payload === 'object'
              ? cause(payload as Record<string, unknown>)
              : undefined;
          if (revocation) this.revoke(revocation);
        } catch (error) {
          this.logger.warn({ err: error, event: name }, 'Socket revocation not applied');
        }
      };
      this.emitter.on(name, listener);
      this.listeners.push([name, listener]);
    }
    // Not awaited: the subscriber queues SUBSCRIBE until Redis answers, and startup must not wait.
    void this.subscriber
      .subscribe(this.channel)
      .catch((error: unknown) =>
        this.logger.warn({ err: error }, 'Revocation channel not subscribed yet'),
      );
  }

  onApplicationShutdown(): void {
    for (const [name, listener] of this.listeners) this.emitter.off(name, listener);
  }

  /** Closes matching sockets here, then tells every instance. */
  revoke(revocation: Revocation): void {
    this.apply(revocation);
    this.redis.client
      .publish(this.channel, JSON.stringify(revocation))
      .catch((error: unknown) =>
        this.logger.warn(
          { err: error, revocation },
          'Revocation not published: other instances keep their sockets',
        ),
      );
  }

  private apply(revocation: Revocation): void {
    const closed = this.gateway.closeWhere(
      (client) => matches(client, revocation),
      REASONS[revocation.kind],
      revocation.kind,
    );
    if (closed) this.logger.log({ revocation, closed }, 'Sockets closed');
  }
}

function matches(client: SocketClient, revocation: Revocation): boolean {
  switch (revocation.kind) {
    case 'session':
      return client.principal.sessionId === revocation.sessionId;
    case 'user':
      return (
        client.tenantId === revocation.tenantId && client.principal.userId === revocation.userId
      );
    case 'key':
      return client.keyId === revocation.keyId;
    case 'tenant':
      return client.tenantId === revocation.tenantId;
  }
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value ? value : undefined;
}
