/**
 * The webhook transport for Node (and Node-compatible hosts): the SSRF check with the
 * system resolver, and a fetch that connects only to the addresses the check vetted.
 *
 * Why not the global fetch: it resolves the host again when it connects, and a DNS server
 * under an attacker's control can answer with a public address for the check and
 * 127.0.0.1 for the connection (DNS rebinding). Here node:http's `lookup` hook hands the
 * socket the vetted address instead of asking DNS; the URL (so the Host header and the
 * TLS server name, which certificates are checked against) keeps the original host name.
 * `agent: false` gives every delivery its own connection, so no pooled socket opened for
 * another address is reused.
 * @module
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { Readable } from 'node:stream';
import type { WebhookFetch } from '../../src/webhooks/dispatcher.ts';
import { createUrlChecker, type CheckedUrl, type Resolve, type SsrfAllow } from '../../src/webhooks/ssrf.ts';

/** Every address the system resolver (getaddrinfo, /etc/hosts included) gives for `host`. */
export const resolveHost: Resolve = async (host) => {
  const answers = await dnsLookup(host, { all: true, verbatim: true });
  return answers.map((a) => a.address);
};

/** Options for {@link createWebhookTransport}. */
export interface WebhookTransportOptions {
  /** Address kinds and hosts let through the SSRF guard (default: public addresses only). */
  allow?: SsrfAllow;
  /** DNS (default {@link resolveHost}); tests inject answers. */
  resolve?: Resolve;
}

/** `check` and `fetch` for `createWebhookDispatcher`, spread straight into its options. */
export interface WebhookTransport {
  check(url: string | URL): Promise<CheckedUrl>;
  /** Connects only to `target.addresses`; without a target it checks `url` first. */
  fetch: (url: string, init?: RequestInit, target?: CheckedUrl) => Promise<Response>;
}

/** Builds the transport; throws INVALID_CONFIG on a bad `allow.cidrs` entry. */
export function createWebhookTransport(options: WebhookTransportOptions = {}): WebhookTransport {
  const check = createUrlChecker({ resolve: options.resolve ?? resolveHost, allow: options.allow });
  return {
    check,
    async fetch(url, init = {}, target) {
      return pinnedFetch(target ?? (await check(url)), init);
    },
  };
}

// Type-level proof the transport's fetch is what the dispatcher expects.
const _fits: (t: WebhookTransport) => WebhookFetch = (t) => t.fetch;
void _fits;

const NULL_BODY = new Set([101, 204, 205, 304]);

/** One HTTP(S) request to `target.url`, connecting to `target.addresses` only. */
export function pinnedFetch(target: CheckedUrl, init: RequestInit = {}): Promise<Response> {
  const { url, addresses } = target;
  if (addresses.length === 0) return Promise.reject(new Error(`no vetted address for ${url.host}`));
  const method = (init.method ?? 'GET').toUpperCase();
  const body = init.body ?? undefined;
  if (body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array)) {
    return Promise.reject(new TypeError('webhook fetch: the body must be a string or a Uint8Array'));
  }
  const headers: Record<string, string> = {};
  new Headers(init.headers).forEach((v, k) => { headers[k] = v; });
  if (body !== undefined) headers['content-length'] = String(typeof body === 'string' ? Buffer.byteLength(body) : body.length);

  // Called by net.connect instead of DNS; never for IP-literal URLs, whose own (checked)
  // address is used. `all` is asked for when Happy Eyeballs (autoSelectFamily) is on.
  const lookup = (_host: string, opts: LookupOptions, cb: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void): void => {
    if (opts.all) cb(null, addresses.map((address) => ({ address, family: isIP(address) })));
    else cb(null, addresses[0]!, isIP(addresses[0]!));
  };

  return new Promise<Response>((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, { method, headers, lookup, agent: false, signal: init.signal ?? undefined }, (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 599) {
        res.destroy();
        reject(new Error(`webhook fetch: unusable HTTP status ${status} from ${url.host}`));
        return;
      }
      const out = new Headers();
      for (const [k, v] of Object.entries(res.headers)) {
        for (const one of Array.isArray(v) ? v : v === undefined ? [] : [v]) out.append(k, one);
      }
      let stream: ReadableStream<Uint8Array> | null = null;
      if (NULL_BODY.has(status) || method === 'HEAD') res.resume();
      else stream = Readable.toWeb(res) as unknown as ReadableStream<Uint8Array>;
      resolve(new Response(stream, { status, statusText: res.statusMessage ?? '', headers: out }));
    });
    req.once('error', reject);
    req.end(body);
  });
}
