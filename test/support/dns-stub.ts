import { createSocket, type Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';

/**
 * A DNS server for one name on 127.0.0.1 (UDP), standing in for Docker's embedded DNS: an `A`
 * query for `name` answers every address of `addresses` (as Docker answers a scaled service's
 * replicas), any other type for it answers no record, any other name NXDOMAIN. Enough for
 * HAProxy's `resolvers` and `server-template`; nothing else (no TCP, no compression on input).
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
    if (query.length < 17) return null;
    // The question: labels from byte 12, then its type and class.
    const labels: string[] = [];
    let at = 12;
    while (at < query.length && query[at] !== 0) {
      const length = query[at];
      if (length > 63 || at + 1 + length > query.length) return null;
      labels.push(query.toString('latin1', at + 1, at + 1 + length));
      at += 1 + length;
    }
    const end = at + 5; // the root label, then type and class
    if (end > query.length) return null;
    const type = query.readUInt16BE(at + 1);
    this.queries.set(type, (this.queries.get(type) ?? 0) + 1);
    const known = labels.join('.').toLowerCase() === this.name.toLowerCase();
    const records = known && type === 1 ? this.addresses : [];
    const header = Buffer.alloc(12);
    header.writeUInt16BE(query.readUInt16BE(0), 0); // id
    // QR, AA, RD as asked, RA; NXDOMAIN for another name
    header.writeUInt16BE(0x8480 | (query.readUInt16BE(2) & 0x0100) | (known ? 0 : 3), 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(records.length, 6);
    const answers = records.map((address) => {
      const record = Buffer.alloc(16);
      record.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
      record.writeUInt16BE(1, 2); // A
      record.writeUInt16BE(1, 4); // IN
      record.writeUInt32BE(1, 6); // TTL 1 s
      record.writeUInt16BE(4, 10);
      address.split('.').forEach((octet, i) => record.writeUInt8(Number(octet), 12 + i));
      return record;
    });
    return Buffer.concat([header, query.subarray(12, end), ...answers]);
  }
}
