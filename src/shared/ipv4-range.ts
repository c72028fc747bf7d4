/** IPv4 addresses and CIDR ranges, strictly parsed (no leading zeros, no shorthand). */

const octet = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const ipv4Pattern = new RegExp(`^${octet}\\.${octet}\\.${octet}\\.${octet}$`);

export function isIpv4(text: string): boolean {
  return ipv4Pattern.test(text);
}

export function ipv4ToNumber(ip: string): number {
  return ip.split('.').reduce((sum, part) => sum * 256 + Number(part), 0);
}

export function numberToIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

export interface Ipv4Range {
  /** The range as written: `127.77.0.0/16`. */
  cidr: string;
  first: number;
  /** One past the last address. */
  end: number;
}

/** Parses `a.b.c.d/n`. Throws an Error that quotes the input and says what is wrong. */
export function parseIpv4Range(cidr: string): Ipv4Range {
  const [ip, bits, ...rest] = cidr.split('/');
  const prefix = Number(bits);
  if (
    rest.length > 0 ||
    !ip ||
    !isIpv4(ip) ||
    !Number.isInteger(prefix) ||
    prefix < 0 ||
    prefix > 32 ||
    bits === ''
  ) {
    throw new Error(`Expected an IPv4 range like 127.77.0.0/16, got ${JSON.stringify(cidr)}`);
  }
  const size = 2 ** (32 - prefix);
  const first = Math.floor(ipv4ToNumber(ip) / size) * size;
  return { cidr: `${numberToIpv4(first)}/${prefix}`, first, end: first + size };
}

export function rangeContains(range: Ipv4Range, ip: string): boolean {
  if (!isIpv4(ip)) return false;
  const value = ipv4ToNumber(ip);
  return value >= range.first && value < range.end;
}

/** Whether `inner` lies wholly inside `outer`. */
export function rangeWithin(inner: Ipv4Range, outer: Ipv4Range): boolean {
  return inner.first >= outer.first && inner.end <= outer.end;
}

export const loopbackRange: Ipv4Range = parseIpv4Range('127.0.0.0/8');

/** The prefix of an IPv4-mapped IPv6 address: `::ffff:127.77.0.5` is 127.77.0.5 over IPv6. */
export const ipv4MappedPrefix = '::ffff:';

/** `127.77.0.5` → `::ffff:127.77.0.5`. */
export function ipv4Mapped(ip: string): string {
  return `${ipv4MappedPrefix}${ip}`;
}

/** The IPv4 address an address stands for: itself, or the one inside an IPv4-mapped IPv6 address. */
export function underlyingIpv4(ip: string): string {
  return ip.startsWith(ipv4MappedPrefix) ? ip.slice(ipv4MappedPrefix.length) : ip;
}
