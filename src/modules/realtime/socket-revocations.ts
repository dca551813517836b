import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { type Revocation, RevocationChannel } from '../../shared/auth';
import { USER_REMOVED, USER_ROLE_CHANGED } from '../auth';
import { API_KEY_REVOKED, TENANT_DELETED } from '../tenancy';
import { RealtimeGateway } from './realtime.gateway';
import type { SocketClient } from './socket-client';

/**
 * Lifecycle event (the names auth and tenancy export) → the revocation it means. Ended sessions
 * are published by the session store itself.
 */
const CAUSES: Record<string, (p: Record<string, unknown>) => Revocation | undefined> = {
  [USER_REMOVED]: (p) =>
    str(p.tenantId) && str(p.userId)
      ? { kind: 'user', tenantId: str(p.tenantId)!, userId: str(p.userId)! }
      : undefined,
  // A socket keeps the role it was admitted with (an owner's gets the audit trail): it reconnects.
  [USER_ROLE_CHANGED]: (p) =>
    str(p.tenantId) && str(p.userId)
      ? { kind: 'role', tenantId: str(p.tenantId)!, userId: str(p.userId)! }
      : undefined,
  [API_KEY_REVOKED]: (p) => (str(p.keyId) ? { kind: 'key', keyId: str(p.keyId)! } : undefined),
  [TENANT_DELETED]: (p) =>
    str(p.tenantId) ? { kind: 'tenant', tenantId: str(p.tenantId)! } : undefined,
};

const REASONS: Record<Exclude<Revocation['kind'], 'memberships'>, string> = {
  session: 'session ended',
  user: 'membership removed',
  role: 'role changed',
  key: 'API key revoked',
  tenant: 'tenant deleted',
};

/**
 * Closes open sockets (4401) whose credential ended: a session revoked or logged out, a membership
 * removed or re-roled, an API key revoked, a tenant deleted. Whatever is published on the revocation channel
 * (here or on another instance) closes this instance's sockets; the in-process events that the
 * session store does not publish itself are published here.
 */
@Injectable()
export class SocketRevocations implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(SocketRevocations.name);
  private readonly listeners: Array<[string, (payload: unknown) => void]> = [];
  private unlisten?: () => void;

  constructor(
    private readonly emitter: EventEmitter2,
    private readonly channel: RevocationChannel,
    private readonly gateway: RealtimeGateway,
  ) {}

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
    // Sockets were admitted with their credentials checked: a missed revocation is not redone.
    this.unlisten = this.channel.listen({ revoked: (r) => this.apply(r), lost: () => undefined });
  }

  onApplicationShutdown(): void {
    for (const [name, listener] of this.listeners) this.emitter.off(name, listener);
    this.unlisten?.();
  }

  /** Closes matching sockets here, then tells every instance. */
  revoke(revocation: Revocation): void {
    void this.channel.publish(revocation);
  }

  private apply(revocation: Revocation): void {
    if (revocation.kind === 'memberships') return;
    const closed = this.gateway.closeWhere(
      (client) => matches(client, revocation),
      REASONS[revocation.kind],
      revocation.kind,
    );
    if (closed) this.logger.log({ revocation, closed }, 'Sockets closed');
  }
}

function matches(
  client: SocketClient,
  revocation: Exclude<Revocation, { kind: 'memberships' }>,
): boolean {
  switch (revocation.kind) {
    case 'session':
      return client.principal.sessionId === revocation.sessionId;
    case 'user':
    case 'role':
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
