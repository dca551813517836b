import { type OnApplicationShutdown, UseFilters, UseInterceptors } from '@nestjs/common';
import {
  type OnGatewayConnection,
  type OnGatewayDisconnect,
  type OnGatewayInit,
  SubscribeMessage,
  WebSocketGateway,
} from '@nestjs/websockets';
import type { IncomingMessage } from 'node:http';
import type { WebSocket, WebSocketServer } from 'ws';
import { headerValue, RequestAuthenticator } from '../../shared/auth';
import { AppError, ErrorFilter } from '../../shared/errors';
import {
  getSocketPrincipal,
  type Principal,
  setSocketPrincipal,
  TenantContext,
  TenantContextInterceptor,
} from '../../shared/tenant-context';

const PING_INTERVAL_MS = 30_000;
const principalsByRequest = new WeakMap<IncomingMessage, Principal>();

type VerifyClient = (
  info: { req: IncomingMessage },
  callback: (verified: boolean, code?: number, message?: string) => void,
) => void;

/**
 * `GET /api/v1/ws`: credentials are checked once, at the upgrade (a bad one is refused with
 * its HTTP status); each message then runs in the socket's tenant context. Sockets are kept
 * per tenant so that a tenant's pushes reach only that tenant's clients.
 */
@WebSocketGateway({ path: '/api/v1/ws', maxPayload: 64 * 1024 })
@UseInterceptors(TenantContextInterceptor)
@UseFilters(ErrorFilter)
export class RealtimeGateway
  implements OnGatewayInit, OnGatewayConnection, OnGatewayDisconnect, OnApplicationShutdown
{
  private readonly socketsByTenant = new Map<string, Set<WebSocket>>();
  private readonly alive = new WeakSet<WebSocket>();
  private pinger?: NodeJS.Timeout;

  constructor(
    private readonly authenticator: RequestAuthenticator,
    private readonly context: TenantContext,
  ) {}

  afterInit(server: WebSocketServer): void {
    // ws consults options.verifyClient at every upgrade; set here so it can use DI.
    (server.options as { verifyClient?: VerifyClient }).verifyClient = (info, callback) => {
      this.verify(info.req).then(
        (principal) => {
          principalsByRequest.set(info.req, principal);
          callback(true);
        },
        (error: unknown) => {
          const status = error instanceof AppError ? error.status : 500;
          const message = error instanceof AppError ? error.message : 'Internal server error';
          callback(false, status, message);
        },
      );
    };
    this.pinger = setInterval(() => this.pingAll(server), PING_INTERVAL_MS).unref();
  }

  handleConnection(socket: WebSocket, request: IncomingMessage): void {
    const principal = principalsByRequest.get(request);
    if (!principal?.tenantId) {
      socket.close(1008, 'unauthenticated');
      return;
    }
    setSocketPrincipal(socket, principal);
    this.alive.add(socket);
    socket.on('pong', () => this.alive.add(socket));
    let sockets = this.socketsByTenant.get(principal.tenantId);
    if (!sockets) this.socketsByTenant.set(principal.tenantId, (sockets = new Set()));
    sockets.add(socket);
  }

  handleDisconnect(socket: WebSocket): void {
    const tenantId = getSocketPrincipal(socket)?.tenantId;
    if (!tenantId) return;
    const sockets = this.socketsByTenant.get(tenantId);
    sockets?.delete(socket);
    if (sockets?.size === 0) this.socketsByTenant.delete(tenantId);
  }

  onApplicationShutdown(): void {
    clearInterval(this.pinger);
    for (const sockets of this.socketsByTenant.values()) {
      for (const socket of sockets) socket.close(1001, 'server shutting down');
    }
  }

  /** Sends to every socket of one tenant on this instance. */
  sendToTenant(tenantId: string, message: { type: string; data: unknown }): number {
    const sockets = this.socketsByTenant.get(tenantId);
    if (!sockets) return 0;
    const payload = JSON.stringify(message);
    for (const socket of sockets) socket.send(payload);
    return sockets.size;
  }

  @SubscribeMessage('whoami')
  whoami(): {
    type: 'whoami';
    data: { tenant_id: string; request_id?: string; transport?: string };
  } {
    return {
      type: 'whoami',
      data: {
        tenant_id: this.context.tenantId,
        request_id: this.context.requestId,
        transport: this.context.transport,
      },
    };
  }

  private verify(request: IncomingMessage): Promise<Principal> {
    const query = new URL(request.url ?? '/', 'http://localhost').searchParams;
    return this.authenticator.authenticate({
      authorization: headerValue(request.headers.authorization),
      apiKey: headerValue(request.headers['x-api-key']) ?? query.get('api_key') ?? undefined,
      tenantId: headerValue(request.headers['x-tenant-id']) ?? query.get('tenant_id') ?? undefined,
      ip: request.socket.remoteAddress,
      userAgent: headerValue(request.headers['user-agent']),
    });
  }

  private pingAll(server: WebSocketServer): void {
    for (const socket of server.clients) {
      if (!this.alive.has(socket)) {
        socket.terminate();
        continue;
      }
      this.alive.delete(socket);
      socket.ping();
    }
  }
}
