import ipaddr from 'ipaddr.js';

/**
 * Whether an address may be the target of an outbound call: only ipaddr.js's `unicast` range
 * (the public internet). Loopback, private, link-local (cloud metadata 169.254.169.254 and
 * fd00:ec2::254 included), CGNAT, unique-local, multicast, reserved, documentation, NAT64, 6to4,
 * Teredo and IPv4-mapped/compatible forms of any of those are refused. An IPv4-mapped
 * (`::ffff:0:0/96`) or IPv4-compatible (`::/96`, deprecated but still routed by some stacks)
 * address is judged as the IPv4 address it embeds: ipaddr.js calls `::7f00:1` (= `::127.0.0.1`)
 * `unicast`, so without this a loopback or private target would pass.
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
    if (v6.isIPv4MappedAddress() || isIPv4Compatible(v6)) parsed = embeddedIPv4(v6);
  }
  return parsed.range() === 'unicast';
}

/** `::/96`: the first 96 bits zero (`::` and `::1` included: they embed 0.0.0.0 and 0.0.0.1). */
function isIPv4Compatible(v6: ipaddr.IPv6): boolean {
  return v6.parts.slice(0, 6).every((part) => part === 0);
}

function embeddedIPv4(v6: ipaddr.IPv6): ipaddr.IPv4 {
  const [high, low] = v6.parts.slice(6);
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
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
