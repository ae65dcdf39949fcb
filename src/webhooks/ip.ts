/**
 * IP address parsing and classification for the SSRF guard: text → bytes, CIDR matching,
 * and which special-purpose range (RFC 6890 and cloud metadata) an address falls in.
 * Addresses that embed an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4) are
 * classified by the IPv4 address they reach, so `::ffff:127.0.0.1` is loopback.
 * @module
 */

/** Why an address is special; `null` from {@link classifyIp} means a public address. */
export type IpCategory =
  | 'loopback' | 'private' | 'link-local' | 'metadata' | 'unspecified' | 'multicast' | 'broadcast' | 'reserved';

/** A parsed CIDR range. */
export interface Cidr {
  readonly bytes: Uint8Array;
  readonly prefix: number;
}

/**
 * Bytes of an IPv4 (4) or IPv6 (16) address in canonical text form (dotted quad, or
 * RFC 4291 hex with `::` and an optional dotted tail; brackets allowed). Null otherwise:
 * hostnames, zone ids and shorthand IPv4 forms (WHATWG URL has already rewritten those
 * in URLs, and resolvers return canonical text).
 */
export function parseIp(text: string): Uint8Array | null {
  const t = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  return t.includes(':') ? parseV6(t) : parseV4(t);
}

function parseV4(t: string): Uint8Array | null {
  const parts = t.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255) return null;
    out[i] = Number(p);
  }
  return out;
}

function parseV6(t: string): Uint8Array | null {
  let tail: Uint8Array | null = null;
  let text = t;
  const lastColon = t.lastIndexOf(':');
  if (t.indexOf('.', lastColon) > 0) {
    tail = parseV4(t.slice(lastColon + 1));
    if (tail === null) return null;
    text = `${t.slice(0, lastColon + 1)}0:0`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (s: string): number[] | null => {
    if (s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  if (head === null || rest === null) return null;
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const words = [...head, ...new Array<number>(missing).fill(0), ...rest];
  const out = new Uint8Array(16);
  words.forEach((w, i) => { out[2 * i] = w >> 8; out[2 * i + 1] = w & 0xff; });
  if (tail) out.set(tail, 12);
  return out;
}

/** Parses `addr/prefix` (prefix optional: a single address); throws TypeError when invalid. */
export function parseCidr(text: string): Cidr {
  const slash = text.lastIndexOf('/');
  const bytes = parseIp(slash < 0 ? text : text.slice(0, slash));
  const prefix = slash < 0 ? (bytes?.length ?? 0) * 8 : Number(text.slice(slash + 1));
  if (bytes === null || !Number.isInteger(prefix) || prefix < 0 || prefix > bytes.length * 8) {
    throw new TypeError(`"${text}" is not an IP address or CIDR range (e.g. 10.1.0.0/16, fd12::/64)`);
  }
  return { bytes, prefix };
}

/** True when `ip` lies in `range` (families must match; callers unwrap embedded IPv4 first). */
export function inCidr(ip: Uint8Array, range: Cidr): boolean {
  if (ip.length !== range.bytes.length) return false;
  let bits = range.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((ip[i]! & mask) !== (range.bytes[i]! & mask)) return false;
  }
  return true;
}

/**
 * The IPv4 address an IPv6 address stands for, if any: IPv4-mapped (::ffff:0:0/96),
 * IPv4-compatible (::/96), NAT64 (64:ff9b::/96, 64:ff9b:1::/48) and 6to4 (2002::/16).
 */
export function embeddedV4(ip: Uint8Array): Uint8Array | null {
  if (ip.length !== 16) return null;
  const zeros = (from: number, to: number) => ip.subarray(from, to).every((b) => b === 0);
  if (zeros(0, 10) && ip[10] === 0xff && ip[11] === 0xff) return ip.slice(12);
  // ::/96 minus :: and ::1, which keep their own IPv6 meaning.
  if (zeros(0, 12) && !(zeros(12, 15) && ip[15]! <= 1)) return ip.slice(12);
  if (inCidr(ip, NAT64) || inCidr(ip, NAT64_LOCAL)) return ip.slice(12);
  if (ip[0] === 0x20 && ip[1] === 0x02) return ip.slice(2, 6);
  return null;
}

const NAT64 = parseCidr('64:ff9b::/96');
const NAT64_LOCAL = parseCidr('64:ff9b:1::/48');

/** Checked in order: the first match wins, so metadata addresses beat link-local. */
const TABLE: readonly (readonly [Cidr, IpCategory])[] = ([
  ['169.254.169.254/32', 'metadata'], // AWS, GCP, Azure, Oracle, DigitalOcean
  ['100.100.100.200/32', 'metadata'], // Alibaba Cloud
  ['168.63.129.16/32', 'metadata'], // Azure WireServer (a public-looking host-local address)
  ['fd00:ec2::254/128', 'metadata'], // AWS IPv6
  ['0.0.0.0/8', 'unspecified'], // "this network": 0.x reaches the local host on Linux
  ['127.0.0.0/8', 'loopback'],
  ['10.0.0.0/8', 'private'],
  ['172.16.0.0/12', 'private'],
  ['192.168.0.0/16', 'private'],
  ['100.64.0.0/10', 'private'], // carrier-grade NAT
  ['169.254.0.0/16', 'link-local'],
  ['224.0.0.0/4', 'multicast'],
  ['255.255.255.255/32', 'broadcast'],
  ['240.0.0.0/4', 'reserved'],
  ['192.0.0.0/24', 'reserved'], // IETF protocol assignments
  ['192.0.2.0/24', 'reserved'], // documentation
  ['198.51.100.0/24', 'reserved'],
  ['203.0.113.0/24', 'reserved'],
  ['198.18.0.0/15', 'reserved'], // benchmarking
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['fc00::/7', 'private'], // unique local
  ['fec0::/10', 'private'], // deprecated site-local
  ['fe80::/10', 'link-local'],
  ['ff00::/8', 'multicast'],
  ['100::/64', 'reserved'], // discard-only
  ['2001::/32', 'reserved'], // Teredo: the IPv4 it reaches is obfuscated
  ['2001:db8::/32', 'reserved'], // documentation
] as const).map(([cidr, category]) => [parseCidr(cidr), category] as const);

/** The special range `ip` is in, or null for a public address. */
export function classifyIp(ip: Uint8Array): IpCategory | null {
  const v4 = embeddedV4(ip);
  const target = v4 ?? ip;
  for (const [range, category] of TABLE) if (inCidr(target, range)) return category;
  return null;
}

/** Canonical text of address bytes (dotted quad, or compressed IPv6). */
export function formatIp(ip: Uint8Array): string {
  if (ip.length === 4) return ip.join('.');
  const words = Array.from({ length: 8 }, (_, i) => (ip[2 * i]! << 8) | ip[2 * i + 1]!);
  // Compress the longest run of zero words (length ≥ 2), as RFC 5952 asks.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j === i ? i + 1 : j;
  }
  const hex = words.map((w) => w.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}
