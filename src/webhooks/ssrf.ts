/**
 * The SSRF guard for callback URLs: a client-supplied URL must not make the server call
 * itself, its private network or the cloud metadata service. `checkUrl` resolves the host
 * (the resolver is injected: DNS is a host capability) and refuses, with a named reason,
 * any URL whose host is or resolves to a special-purpose address, unless configuration
 * allows that kind of address.
 *
 * Checking is only half of it: a second DNS answer may differ (DNS rebinding), so the
 * delivery must connect to the addresses returned here. `runtimes/native/webhook-fetch.ts`
 * does that on Node, Bun and Deno; hosts whose fetch cannot pin an address (Workers, where
 * the platform itself refuses private destinations) rely on the check alone.
 * @module
 */
import { Errors, isOmniserveError, type OmniserveError } from '../errors.ts';
import { classifyIp, embeddedV4, formatIp, inCidr, parseCidr, parseIp, type Cidr, type IpCategory } from './ip.ts';

/** Why a URL was refused. */
export type RefusalReason = IpCategory | 'invalid-url' | 'scheme' | 'credentials' | 'invalid-address';

/** Kinds of address (or hosts) configuration lets through. Tests allow loopback. */
export interface SsrfAllow {
  /** 127.0.0.0/8, ::1, `localhost`. */
  loopback?: boolean;
  /** RFC 1918, CGNAT 100.64/10, unique-local fc00::/7. */
  private?: boolean;
  /** 169.254/16 and fe80::/10, but never the metadata addresses (allow those by CIDR). */
  linkLocal?: boolean;
  /** Host names allowed whatever they resolve to; `*.example.com` matches subdomains. */
  hosts?: readonly string[];
  /** Address ranges allowed whatever their kind, e.g. `10.20.0.0/16`, `fd12::/64`. */
  cidrs?: readonly string[];
}

/** Resolves a host name to IP addresses in text form (all of them, not just the first). */
export type Resolve = (host: string) => Promise<readonly string[]>;

/** Options for {@link checkUrl}. */
export interface CheckUrlOptions {
  resolve: Resolve;
  allow?: SsrfAllow;
}

/** A URL that passed the check, with the only addresses a delivery may connect to. */
export interface CheckedUrl {
  readonly url: URL;
  /** The host name without brackets, lower case, no trailing dot. */
  readonly host: string;
  /** Vetted addresses in canonical text form; IP-literal URLs give their own address. */
  readonly addresses: readonly string[];
}

/** Host names that reach a metadata service without looking like one. */
const METADATA_HOSTS = new Set(['metadata.google.internal', 'metadata.goog', 'metadata']);

/** Builds a checker with the allow-list parsed once; throws INVALID_CONFIG on a bad CIDR. */
export function createUrlChecker(options: CheckUrlOptions): (url: string | URL) => Promise<CheckedUrl> {
  const allow = options.allow ?? {};
  let cidrs: Cidr[];
  try {
    cidrs = (allow.cidrs ?? []).map(parseCidr);
  } catch (e) {
    throw Errors.INVALID_CONFIG(`webhook allow.cidrs: ${(e as Error).message}`, undefined, e);
  }
  const hosts = (allow.hosts ?? []).map((h) => normalizeHost(h));
  return (url) => check(url, options.resolve, allow, cidrs, hosts);
}

/** Checks one URL; see {@link createUrlChecker} to check many with one configuration. */
export function checkUrl(url: string | URL, options: CheckUrlOptions): Promise<CheckedUrl> {
  return createUrlChecker(options)(url);
}

/** The reason when `e` is a refusal from this guard (never retried), else undefined. */
export function refusalOf(e: unknown): RefusalReason | undefined {
  if (!isOmniserveError(e, 'INVALID_REQUEST')) return undefined;
  const r = e.details?.refused;
  return typeof r === 'string' ? (r as RefusalReason) : undefined;
}

async function check(
  input: string | URL, resolve: Resolve, allow: SsrfAllow, cidrs: readonly Cidr[], hosts: readonly string[],
): Promise<CheckedUrl> {
  let url: URL;
  try {
    url = new URL(String(input));
  } catch {
    throw refused('invalid-url', `the callback URL "${String(input).slice(0, 200)}" is not a URL`, String(input));
  }
  const shown = redact(url);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw refused('scheme', `the callback URL ${shown} must use http or https, not ${url.protocol.slice(0, -1)}`, shown);
  }
  if (url.username !== '' || url.password !== '') {
    throw refused('credentials', `the callback URL ${shown} must not carry credentials`, shown);
  }
  const host = normalizeHost(url.hostname);
  if (host === '') throw refused('invalid-url', `the callback URL ${shown} has no host`, shown);
  const hostAllowed = hosts.some((h) => (h.startsWith('*.') ? host.endsWith(h.slice(1)) : host === h));

  // WHATWG URL has already rewritten 2130706433, 0x7f.1 and 0177.0.0.1 to 127.0.0.1,
  // so IP literals arrive canonical here and skip DNS.
  const literal = parseIp(host);
  if (!hostAllowed && literal === null) {
    if (METADATA_HOSTS.has(host)) throw refused('metadata', `the callback URL ${shown} names a cloud metadata service`, shown);
    if ((host === 'localhost' || host.endsWith('.localhost')) && !allow.loopback) {
      throw refused('loopback', `the callback URL ${shown} names the local host`, shown);
    }
  }
  const answers = literal ? [host] : await resolve(host);
  if (answers.length === 0) throw new Error(`${host} did not resolve to any address`);
  const addresses: string[] = [];
  for (const answer of answers) {
    const ip = parseIp(answer);
    if (ip === null) {
      throw refused('invalid-address', `${host} resolved to "${answer}", which is not an IP address`, shown);
    }
    if (!hostAllowed) {
      const category = classifyIp(ip);
      if (category !== null && !allowed(category, ip, allow, cidrs)) {
        const via = literal ? '' : ` resolves to ${formatIp(ip)}, which`;
        throw refused(category, `the callback URL ${shown} is refused: ${host}${via} is a ${category} address ` +
          `(webhooks may not reach the server's own networks unless allowed in configuration)`, shown, formatIp(ip));
      }
    }
    addresses.push(formatIp(ip));
  }
  return { url, host, addresses };
}

function allowed(category: IpCategory, ip: Uint8Array, allow: SsrfAllow, cidrs: readonly Cidr[]): boolean {
  const v4 = embeddedV4(ip);
  if (cidrs.some((c) => inCidr(ip, c) || (v4 !== null && inCidr(v4, c)))) return true;
  switch (category) {
    case 'loopback': return allow.loopback === true;
    case 'private': return allow.private === true;
    case 'link-local': return allow.linkLocal === true;
    default: return false;
  }
}

function refused(reason: RefusalReason, message: string, url: string, address?: string): OmniserveError {
  return Errors.INVALID_REQUEST(message, address === undefined ? { refused: reason, url } : { refused: reason, url, address });
}

function normalizeHost(h: string): string {
  const bare = h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
  return bare.toLowerCase().replace(/\.$/, '');
}

/** The URL without credentials, query or fragment (they may hold secrets), for messages. */
export function redact(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}
