import { createServer, type Server, type Socket, connect } from 'node:net';

interface Link {
  client: Socket;
  upstream: Socket;
  /** Bytes from upstream not yet delivered to the client (held). */
  pending: Buffer[];
  /** Upstream closed while answers were held: the client learns it on release. */
  upstreamClosed: boolean;
}

/**
 * A TCP proxy a test controls, in front of a real service (Redis, RabbitMQ, Secrets Manager …):
 *
 * - `hold()`: the service stays reachable and receives every request, but its answers (and its
 *   closing a connection) are kept back — a service that accepts and never answers.
 *   `release()` delivers what was held.
 * - `cut()`: destroys every open connection at once (both sides), as a network failure would;
 *   new connections are accepted again straight after (reconnects succeed).
 * - `refuse()`: new connections are closed as soon as they open, until `accept()`.
 *
 * `url(protocol)` gives `protocol://127.0.0.1:<port>` to point a client at the proxy.
 */
export class TcpProxy {
  private readonly links = new Set<Link>();
  private readonly sockets = new Set<Socket>();
  private holding = false;
  private refusing = false;
  /** Connections accepted so far (a reconnect shows as a new one). */
  accepted = 0;

  private readonly server: Server;
  private listeningPort = 0;

  private constructor(host: string, port: number) {
    this.server = createServer((client) => this.onConnection(client, host, port));
  }

  static async start(target: { host?: string; port: number }): Promise<TcpProxy> {
    const proxy = new TcpProxy(target.host ?? '127.0.0.1', target.port);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = proxy.server.address();
    proxy.listeningPort = typeof address === 'object' && address ? address.port : 0;
    return proxy;
  }

  get port(): number {
    return this.listeningPort;
  }

  url(protocol: string): string {
    return `${protocol}://127.0.0.1:${this.port}`;
  }

  /** Open connections right now. */
  get connections(): number {
    return this.links.size;
  }

  hold(): void {
    this.holding = true;
  }

  release(): void {
    this.holding = false;
    for (const link of [...this.links]) {
      for (const chunk of link.pending.splice(0)) link.client.write(chunk);
      if (link.upstreamClosed) {
        this.links.delete(link);
        link.client.end();
      }
    }
  }

  cut(): void {
    for (const link of [...this.links]) this.drop(link);
  }

  refuse(): void {
    this.refusing = true;
  }

  accept(): void {
    this.refusing = false;
  }

  async close(): Promise<void> {
    this.cut();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onConnection(client: Socket, host: string, port: number): void {
    this.accepted += 1;
    this.sockets.add(client);
    client.once('close', () => this.sockets.delete(client));
    if (this.refusing) {
      client.destroy();
      return;
    }
    const upstream = connect(port, host);
    const link: Link = { client, upstream, pending: [], upstreamClosed: false };
    this.links.add(link);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => {
      if (this.holding) link.pending.push(chunk);
      else client.write(chunk);
    });
    const end = () => this.drop(link);
    // A held client sees nothing, not even the service closing (a mute peer, not a dead one).
    const upstreamEnd = () => {
      if (this.holding) link.upstreamClosed = true;
      else this.drop(link);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', upstreamEnd).on('error', upstreamEnd);
  }

  private drop(link: Link): void {
    if (!this.links.delete(link)) return;
    link.client.destroy();
    link.upstream.destroy();
  }
}
