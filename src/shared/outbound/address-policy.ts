import ipaddr from 'ipaddr.js';

/**
 * Whether an address may be the target of an outbound call: only ipaddr.js's `unicast` range
 * (the public internet). Loopback, private, link-local (cloud metadata 169.254.169.254 and
 * fd00:ec2::254 included), CGNAT, unique-local, multicast, reserved, documentation, NAT64, 6to4,
 * Teredo and IPv4-mapped/compatible forms of any of those are refused.
 */
export function isPublicAddress(address: string): boolean {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(address.replace(/^\[|\]$/g, ''));
  } catch {
    return false;
  }
  if (parsed.kind() === 'ipv6') {
    const v6 = parsed as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) parsed = v6.toIPv4Address();
  }
  return parsed.range() === 'unicast';
}

/** `host` or `host:port` entries; an entry without a port allows every port of that host. */
export class HostAllowList {
  private readonly entries: Array<{ host: string; port: string | null }>;

  constructor(entries: readonly string[]) {
    this.entries = entries.map((entry) => {
      const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(entry.trim().toLowerCase());
      return { host: match?.[1] ?? entry, port: match?.[2] ?? null };
    });
  }

  /** `url.hostname` (brackets kept for IPv6) and its effective port. */
  allows(url: URL): boolean {
    const host = url.hostname.toLowerCase();
    const port = url.port || (url.protocol === 'https:' ? '443' : '80');
    return this.entries.some(
      (entry) => entry.host === host && (!entry.port || entry.port === port),
    );
  }
}
