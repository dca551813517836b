import {
  Inject,
  Logger,
  type BeforeApplicationShutdown,
  UseFilters,
  UseInterceptors,
} from '@nestjs/common';
import {
  type OnGatewayConnection,
  type OnGatewayDisconnect,
  type OnGatewayInit,
  SubscribeMessage,
  WebSocketGateway,
} from '@nestjs/websockets';
import type { IncomingMessage } from 'node:http';
import type { RawData, WebSocket, WebSocketServer } from 'ws';
import { appConfig, type AppConfig, realtimeConfig, type RealtimeConfig } from '../../config';
import { type Credentials, headerValue, RequestAuthenticator } from '../../shared/auth';
import { AppError, ErrorFilter } from '../../shared/errors';
import {
  type Principal,
  setSocketPrincipal,
  TenantContext,
  TenantContextInterceptor,
} from '../../shared/tenant-context';
import { TenantFeeds } from '../events';
import { ApiKeysService } from '../tenancy';
import { type ErrorMessage, parseClientMessage, type WhoamiAnswer } from './realtime.messages';
import { socketSources, wsClosed, wsRefused } from './realtime.metrics';
import { tenantLabel } from '../../shared/metrics';
import { CLOSE, SocketClient } from './socket-client';

export const SUBPROTOCOL = 'tessera.v1';
const MAX_PAYLOAD = 64 * 1024;

interface Admission {
  principal: Principal & { tenantId: string };
  keyId?: string;
  /** Access token expiry (ms since epoch) of a bearer socket. */
  expiresAt?: number;
  release: () => void;
  bound: boolean;
}

type VerifyClient = (
  info: { req: IncomingMessage; origin?: string },
  callback: (verified: boolean, code?: number, message?: string) => void,
) => void;

class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const admissions = new WeakMap<IncomingMessage, Admission>();
const clientsBySocket = new WeakMap<WebSocket, SocketClient>();

/**
 * `GET /api/v1/ws`: credentials (headers, or the subprotocols `tessera.v1` + `key.<k>` /
 * `bearer.<t>`), the Origin allow-list and the connection caps are checked at the upgrade, which a
 * refusal answers with its HTTP status. A socket then gets `hello`, its tenant's events in seq
 * order, and `subscribe` (types, `since_seq` replay); it is closed when its credential ends.
 */
@WebSocketGateway({ path: '/api/v1/ws', maxPayload: MAX_PAYLOAD })
@UseInterceptors(TenantContextInterceptor)
@UseFilters(ErrorFilter)
export class RealtimeGateway
  implements OnGatewayInit, OnGatewayConnection, OnGatewayDisconnect, BeforeApplicationShutdown
{
  private readonly logger = new Logger(RealtimeGateway.name);
  private readonly alive = new WeakSet<WebSocket>();
  private readonly perTenant = new Map<string, number>();
  private readonly perKey = new Map<string, number>();
  /** This instance's sockets, by tenant. */
  private readonly clients = new Map<string, Set<SocketClient>>();
  private server?: WebSocketServer;
  private pinger?: NodeJS.Timeout;
  private sockets = 0;
  private readonly gaugeSource = { socketCount: () => this.sockets };

  constructor(
    private readonly authenticator: RequestAuthenticator,
    private readonly context: TenantContext,
    private readonly feeds: TenantFeeds,
    private readonly apiKeys: ApiKeysService,
    @Inject(realtimeConfig.KEY) private readonly config: RealtimeConfig,
    @Inject(appConfig.KEY) private readonly app: AppConfig,
  ) {}

  afterInit(server: WebSocketServer): void {
    this.server = server;
    const options = server.options as {
      verifyClient?: VerifyClient;
      handleProtocols?: (protocols: Set<string>) => string | false;
    };
    // ws consults these at every upgrade; set here so they can use DI.
    options.verifyClient = (info, callback) => {
      // A worker process (TESSERA_ROLE=worker) serves no client.
      if (!this.app.servesApi) return callback(false, 404, 'Not Found');
      this.admit(info.req).then(
        (admission) => {
          admissions.set(info.req, admission);
          // A handshake that fails after admission must not hold its cap slot.
          info.req.socket.once('close', () => {
            if (!admission.bound) admission.release();
          });
          callback(true);
        },
        (error: unknown) => {
          const { status, message } = refusalOf(error);
          if (status >= 500) this.logger.warn({ err: error }, 'WebSocket upgrade failed');
          wsRefused.inc({ status: String(status) });
          callback(false, status, message);
        },
      );
    };
    options.handleProtocols = (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false);
    this.pinger = setInterval(() => this.pingAll(server), this.config.pingIntervalMs).unref();
    socketSources.add(this.gaugeSource);
  }

  handleConnection(socket: WebSocket, request: IncomingMessage): void {
    const admission = admissions.get(request);
    if (!admission) {
      socket.close(1008, 'unauthenticated');
      return;
    }
    admission.bound = true;
    this.sockets++;
    const client = new SocketClient(
      socket,
      admission.principal,
      admission.keyId,
      this.config.maxBufferedBytes,
    );
    clientsBySocket.set(socket, client);
    const ofTenant = this.clients.get(client.tenantId) ?? new Set<SocketClient>();
    this.clients.set(client.tenantId, ofTenant.add(client));
    setSocketPrincipal(socket, admission.principal);
    this.alive.add(socket);
    socket.on('pong', () => this.alive.add(socket));
    socket.on('message', (data: RawData, isBinary: boolean) =>
      this.onFrame(client, data, isBinary),
    );
    let expiry: NodeJS.Timeout | undefined;
    if (admission.expiresAt) {
      expiry = setTimeout(
        () => {
          wsClosed.inc({ reason: 'expired', tenant_id: tenantLabel(client.tenantId) });
          client.close(CLOSE.unauthorized, 'token expired');
        },
        Math.max(0, admission.expiresAt - Date.now()),
      ).unref();
    }
    socket.once('close', () => {
      clearTimeout(expiry);
      this.sockets--;
      admission.release();
      this.feeds.leave(client.feed);
      ofTenant.delete(client);
      if (ofTenant.size === 0 && this.clients.get(client.tenantId) === ofTenant)
        this.clients.delete(client.tenantId);
    });
    void this.join(client, 1_000);
  }

  /**
   * Joins the tenant feed; while it cannot start (the tenant database or Redis does not answer)
   * the socket stays open and the join is retried with backoff: `hello` comes once it starts,
   * and nothing reaches the socket before it (SocketClient holds earlier frames). A tenant that
   * no longer exists closes it (4401), as its deletion does.
   */
  private join(client: SocketClient, backoffMs: number): Promise<void> {
    return this.feeds.join(client.feed).catch((error: unknown) => {
      this.feeds.leave(client.feed);
      if (!client.open) return;
      // Its tenant is gone (deleted since the socket was admitted): no retry can bring hello.
      if (error instanceof AppError && error.code === 'TENANCY.TENANT_NOT_FOUND') {
        wsClosed.inc({ reason: 'tenant', tenant_id: tenantLabel(client.tenantId) });
        client.close(CLOSE.unauthorized, 'tenant deleted');
        return;
      }
      this.logger.warn(
        { err: error, tenantId: client.tenantId, retryInMs: backoffMs },
        'Feed not joined; retrying',
      );
      const retry = setTimeout(() => {
        if (client.open) void this.join(client, Math.min(backoffMs * 2, 30_000));
      }, backoffMs);
      retry.unref();
      client.socket.once('close', () => clearTimeout(retry));
    });
  }

  handleDisconnect(socket: WebSocket): void {
    const client = clientsBySocket.get(socket);
    if (client) this.feeds.leave(client.feed);
  }

  /**
   * Before Nest disposes the WebSocket adapter, which terminates every socket without a close
   * frame (clients would see 1006): closing here sends 1001, so clients know to reconnect.
   */
  beforeApplicationShutdown(): void {
    clearInterval(this.pinger);
    socketSources.delete(this.gaugeSource);
    for (const socket of this.server?.clients ?? []) {
      wsClosed.inc({
        reason: 'shutdown',
        tenant_id: tenantLabel(clientsBySocket.get(socket)?.tenantId),
      });
      socket.close(CLOSE.goingAway, 'server shutting down');
    }
  }

  /** Sends to every socket of one tenant on this instance. */
  sendToTenant(tenantId: string, message: { type: string; data: unknown }): number {
    const frame = JSON.stringify(message);
    let sent = 0;
    for (const client of this.clients.get(tenantId) ?? []) if (client.write(frame)) sent++;
    return sent;
  }

  /** One ping round now (what the interval timer runs): a socket that missed the last ping is dropped. */
  sweep(): void {
    if (this.server) this.pingAll(this.server);
  }

  /** Closes this instance's sockets that `match`, with 4401 and `reason`. */
  closeWhere(match: (client: SocketClient) => boolean, reason: string, metric: string): number {
    let closed = 0;
    for (const client of [...this.clients.values()].flatMap((ofTenant) => [...ofTenant])) {
      if (!match(client)) continue;
      client.close(CLOSE.unauthorized, reason);
      wsClosed.inc({ reason: metric, tenant_id: tenantLabel(client.tenantId) });
      closed++;
    }
    return closed;
  }

  @SubscribeMessage('whoami')
  whoami(): WhoamiAnswer {
    return {
      type: 'whoami',
      data: {
        tenant_id: this.context.tenantId,
        request_id: this.context.requestId,
        transport: this.context.transport,
      },
    };
  }

  /**
   * Every frame is parsed here with the message schemas (realtime.messages.ts): a bad one gets an
   * error message; `whoami` is answered by the Nest handler above (the adapter routes it by the
   * same parse), `subscribe` here, after `hello`.
   */
  private onFrame(client: SocketClient, data: RawData, isBinary: boolean): void {
    let frame: unknown;
    try {
      frame = isBinary ? undefined : JSON.parse(rawText(data));
    } catch {
      frame = undefined;
    }
    const parsed = parseClientMessage(frame);
    if (!parsed.ok) {
      client.send(errorMessage(parsed.error));
      return;
    }
    const message = parsed.message;
    if (message.type !== 'subscribe') return;
    const { event_types: types, since_seq: sinceSeq } = message.data ?? {};
    // After hello (the feed joined): a subscribe sent earlier waits for it instead of failing.
    client.chain = client.chain
      .then(() => client.greeted)
      .then(() => this.feeds.subscribe(client.feed, types, sinceSeq))
      .catch((error: unknown) => {
        this.logger.warn({ err: error, tenantId: client.tenantId }, 'Replay failed');
        client.send(errorMessage('Replay failed; subscribe again shortly'));
      });
  }

  private async admit(request: IncomingMessage): Promise<Admission> {
    this.checkOrigin(request);
    const credentials = this.credentials(request);
    const principal = await this.authenticator.authenticate(credentials);
    if (!principal.tenantId) throw new Refusal(400, 'Choose a tenant with X-Tenant-ID');
    const tenantId = principal.tenantId;
    let keyId: string | undefined;
    if (principal.via === 'api_key' && credentials.apiKey)
      keyId = (await this.apiKeys.resolve(credentials.apiKey))?.keyId;
    const expiresAt =
      principal.via === 'session' ? tokenExpiry(credentials.authorization) : undefined;

    const tenantCount = this.perTenant.get(tenantId) ?? 0;
    if (tenantCount >= this.config.maxSocketsPerTenant)
      throw new Refusal(429, 'Too many connections for this tenant');
    const keyCount = keyId ? (this.perKey.get(keyId) ?? 0) : 0;
    if (keyId && keyCount >= this.config.maxSocketsPerKey)
      throw new Refusal(429, 'Too many connections for this API key');
    this.perTenant.set(tenantId, tenantCount + 1);
    if (keyId) this.perKey.set(keyId, keyCount + 1);
    let released = false;
    return {
      principal: { ...principal, tenantId },
      keyId,
      expiresAt,
      bound: false,
      release: () => {
        if (released) return;
        released = true;
        decrement(this.perTenant, tenantId);
        if (keyId) decrement(this.perKey, keyId);
      },
    };
  }

  private checkOrigin(request: IncomingMessage): void {
    const origin = headerValue(request.headers.origin);
    if (!origin) return; // not a browser: its credentials decide
    const allowed = this.config.allowedOrigins;
    if (allowed.includes('*') || allowed.includes(origin.replace(/\/+$/, ''))) return;
    const host = headerValue(request.headers.host);
    if (host && (origin === `http://${host}` || origin === `https://${host}`)) return;
    throw new Refusal(403, `Origin ${origin} is not allowed`);
  }

  private credentials(request: IncomingMessage): Credentials {
    const query = new URL(request.url ?? '/', 'http://localhost').searchParams;
    const offered = (headerValue(request.headers['sec-websocket-protocol']) ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean);
    const fromProtocol = (prefix: string) =>
      offered.find((p) => p.startsWith(prefix))?.slice(prefix.length) || undefined;
    const protocolKey = fromProtocol('key.');
    const protocolBearer = fromProtocol('bearer.');
    const queryKey = this.config.queryApiKey ? (query.get('api_key') ?? undefined) : undefined;
    if (!this.config.queryApiKey && query.has('api_key'))
      throw new Refusal(400, '?api_key= is disabled: send X-API-Key or the subprotocol key.<key>');
    return {
      authorization:
        headerValue(request.headers.authorization) ??
        (protocolBearer ? `Bearer ${protocolBearer}` : undefined),
      apiKey: headerValue(request.headers['x-api-key']) ?? protocolKey ?? queryKey,
      tenantId: headerValue(request.headers['x-tenant-id']) ?? query.get('tenant_id') ?? undefined,
      ip: request.socket.remoteAddress,
      userAgent: headerValue(request.headers['user-agent']),
    };
  }

  private pingAll(server: WebSocketServer): void {
    for (const socket of server.clients) {
      if (socket.readyState !== socket.OPEN) continue; // closing: its close handshake decides
      if (!this.alive.has(socket)) {
        wsClosed.inc({
          reason: 'dead_peer',
          tenant_id: tenantLabel(clientsBySocket.get(socket)?.tenantId),
        });
        socket.terminate();
        continue;
      }
      this.alive.delete(socket);
      socket.ping();
    }
  }
}

function refusalOf(error: unknown): { status: number; message: string } {
  if (error instanceof Refusal || error instanceof AppError)
    return { status: error.status, message: error.message };
  return { status: 500, message: 'Internal server error' };
}

function errorMessage(message: string): ErrorMessage {
  return { type: 'error', data: { message } };
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data as ArrayBuffer).toString('utf8');
}

function decrement(counts: Map<string, number>, key: string): void {
  const next = (counts.get(key) ?? 1) - 1;
  if (next <= 0) counts.delete(key);
  else counts.set(key, next);
}

/** The `exp` of an already verified access token, in ms. */
function tokenExpiry(authorization: string | undefined): number | undefined {
  const token = authorization?.replace(/^Bearer\s+/i, '');
  const payload = token?.split('.')[1];
  if (!payload) return undefined;
  try {
    const exp = (
      JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown }
    ).exp;
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
