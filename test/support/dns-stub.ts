import { createSocket, type Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import * as dnsPacket from 'dns-packet';

/**
 * A DNS server for one name on 127.0.0.1 (UDP), standing in for Docker's embedded DNS: an `A`
 * query for `name` answers every address of `addresses` (as Docker answers a scaled service's
 * replicas), any other type for it answers no record, any other name NXDOMAIN. Enough for
 * HAProxy's `resolvers` and `server-template` (UDP only); packets are read and written by dns-packet.
 */
export class DnsStub {
  private socket: Socket | null = null;
  port = 0;
  /** Questions answered, by type (1: A, 28: AAAA). */
  readonly queries = new Map<number, number>();

  constructor(
    readonly name: string,
    public addresses: string[],
  ) {
    for (const address of addresses)
      if (!isIPv4(address)) throw new Error(`not an IPv4 address: ${address}`);
  }

  async start(): Promise<this> {
    const socket = createSocket('udp4');
    socket.on('message', (query, peer) => {
      const answer = this.answer(query);
      if (answer) socket.send(answer, peer.port, peer.address);
    });
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    this.port = socket.address().port;
    this.socket = socket;
    return this;
  }

  async close(): Promise<void> {
    const socket = this.socket;
    this.socket = null;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  private answer(query: Buffer): Buffer | null {
    let packet: dnsPacket.Packet;
    try {
      packet = dnsPacket.decode(query);
    } catch {
      return null;
    }
    const question = packet.questions?.[0];
    if (packet.type !== 'query' || !question) return null;
    const code = question.type === 'A' ? 1 : question.type === 'AAAA' ? 28 : 0;
    this.queries.set(code, (this.queries.get(code) ?? 0) + 1);
    const known = question.name.toLowerCase() === this.name.toLowerCase();
    const records = known && question.type === 'A' ? this.addresses : [];
    return dnsPacket.encode({
      type: 'response',
      id: packet.id,
      // authoritative; recursion desired as asked, available; NXDOMAIN for another name
      flags:
        dnsPacket.AUTHORITATIVE_ANSWER |
        dnsPacket.RECURSION_AVAILABLE |
        ((packet.flags ?? 0) & dnsPacket.RECURSION_DESIRED) |
        (known ? 0 : 3),
      questions: [question],
      answers: records.map((data) => ({
        type: 'A' as const,
        class: 'IN' as const,
        name: question.name,
        ttl: 1,
        data,
      })),
    });
  }
}
