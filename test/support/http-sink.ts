import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import request from 'supertest';
import type { TestApp } from './app';
import { createTenant, type Identity, platformAdmin, tenantMember } from './identities';

export interface SinkRequest {
  idempotencyKey: string;
  signature: string | undefined;
  body: string;
  json: Record<string, unknown>;
  at: number;
  /** The W3C trace context the sender propagated (tracing on). */
  traceparent?: string;
}

/**
 * A local third party the test controls: records every delivery, dedupes on Idempotency-Key,
 * and can be taken down (connections refused), made to answer a status, or to hang.
 */
export class HttpSink {
  readonly requests: SinkRequest[] = [];
  /** Keys answered 2xx (what the third party "has"). */
  readonly accepted = new Map<string, SinkRequest>();
  duplicates = 0;
  /** null: 200; a number: that status for every request; 'hang': never answers. */
  mode: number | 'hang' | null = null;
  /** Called per request; may return a status to answer instead of `mode`. */
  decide: ((req: SinkRequest) => number | null) | null = null;
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  async start(port = 0): Promise<this> {
    const server = createServer((req, res) => this.onRequest(req, res));
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    const address = server.address();
    this.port = typeof address === 'object' && address ? address.port : port;
    this.server = server;
    return this;
  }

  /** Refuses connections from now on (the port is closed). */
  async down(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async up(): Promise<void> {
    if (!this.server) await this.start(this.port);
  }

  async close(): Promise<void> {
    await this.down();
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(body) as Record<string, unknown>;
      } catch {
        json = {};
      }
      const entry: SinkRequest = {
        idempotencyKey: String(req.headers['idempotency-key'] ?? ''),
        signature: req.headers['x-tessera-signature'] as string | undefined,
        body,
        json,
        at: Date.now(),
        traceparent: req.headers.traceparent as string | undefined,
      };
      this.requests.push(entry);
      const status = this.decide?.(entry) ?? this.mode;
      if (status === 'hang') return;
      const code = status ?? 200;
      if (code >= 200 && code < 300) {
        if (this.accepted.has(entry.idempotencyKey)) this.duplicates++;
        else this.accepted.set(entry.idempotencyKey, entry);
      }
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      // A redirect points at the cloud metadata address: following it would be SSRF.
      if (code >= 300 && code < 400) headers.location = 'http://169.254.169.254/latest/meta-data/';
      res.writeHead(code, headers).end('{}');
    });
  }
}

export interface LocationTenant {
  id: string;
  owner: Identity;
  users: Identity[];
}

/** A provisioned tenant (real POST /tenants) with an owner and `users` plain users. */
export async function locationTenant(
  t: TestApp,
  admin: Identity,
  users = 1,
): Promise<LocationTenant> {
  const tenant = await createTenant(t, admin);
  const owner = await tenantMember(t, tenant.id, 'tenant_owner');
  const members: Identity[] = [];
  for (let i = 0; i < users; i++) members.push(await tenantMember(t, tenant.id, 'user'));
  return { id: tenant.id, owner, users: members };
}

export { platformAdmin };

/** Points the tenant's deliveries at `url` (the owner's PUT /location/delivery). */
export async function setDelivery(
  t: TestApp,
  owner: Identity,
  url: string,
  extra: Record<string, unknown> = {},
): Promise<Record<string, unknown>> {
  const res = await request(t.url)
    .put('/api/v1/location/delivery')
    .set('Authorization', owner.bearer)
    .send({ endpoint_url: url, ...extra });
  if (res.status !== 200)
    throw new Error(`PUT /location/delivery answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body as Record<string, unknown>;
}

/** Starts a session for `user`; returns its id. */
export async function startSession(
  t: TestApp,
  user: Identity,
  body: Record<string, unknown> = {},
): Promise<string> {
  const res = await request(t.url)
    .post('/api/v1/location/session/start')
    .set('Authorization', user.bearer)
    .send(body);
  if (res.status !== 201)
    throw new Error(`session/start answered ${res.status}: ${JSON.stringify(res.body)}`);
  return (res.body as { id: string }).id;
}

/**
 * A unique topic pair per test file, so consumers of other suites' app instances (which join
 * the default groups) never take this file's records.
 */
export function isolateLocationTopics(label: string): { topic: string; dlq: string } {
  const suffix = `${label}.${Math.random().toString(36).slice(2, 10)}`;
  const topic = `test.location.${suffix}`;
  const dlq = `${topic}.dlq`;
  process.env.LOCATION_TOPIC = topic;
  process.env.LOCATION_DLQ_TOPIC = dlq;
  process.env.LOCATION_GROUP_PREFIX = `test-location-${suffix}`;
  return { topic, dlq };
}
