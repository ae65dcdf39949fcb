/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): every delivery carries
 * `webhook-id`, `webhook-timestamp` (unix seconds) and `webhook-signature`
 * (`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`), so receivers can verify us with
 * the official libraries. Web Crypto only, so it runs on every host.
 *
 * Secrets: `whsec_<base64>` (the spec's format; the bytes after the prefix are base64-
 * decoded), any other string is used as its UTF-8 bytes ("raw"), and a `Uint8Array` is used
 * as is. Receivers using the official `standardwebhooks` library pass the same `whsec_`
 * string; for a raw secret they pass `new Webhook(raw, { format: 'raw' })`, because that
 * library base64-decodes unprefixed strings.
 * @module
 */
import { Errors } from '../errors.ts';

/** The three headers a signed delivery carries (a type, so it fits Record<string, string>). */
export type WebhookHeaders = {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
};

/** A webhook secret: `whsec_<base64>`, a raw string, or key bytes. */
export type WebhookSecret = string | Uint8Array;

/** What {@link signWebhook} signs. */
export interface SignInput {
  /** The message id; stays the same across retries so receivers can deduplicate. */
  id: string;
  /** Unix seconds (or a Date). Retries are re-signed with the time of the attempt. */
  timestamp: number | Date;
  /** The exact bytes sent; a string is sent as UTF-8. */
  body: string | Uint8Array;
  secret: WebhookSecret;
}

const PREFIX = 'whsec_';
const encoder = new TextEncoder();
const keyCache = new WeakMap<Uint8Array, Promise<CryptoKey>>();
const stringKeys = new Map<string, Promise<CryptoKey>>();

/** The key bytes of a secret; throws INVALID_CONFIG on an empty or malformed secret. */
export function secretBytes(secret: WebhookSecret): Uint8Array {
  if (secret instanceof Uint8Array) {
    if (secret.length === 0) throw Errors.INVALID_CONFIG('the webhook secret is empty');
    return secret;
  }
  if (typeof secret !== 'string' || secret.length === 0) throw Errors.INVALID_CONFIG('the webhook secret is empty');
  if (!secret.startsWith(PREFIX)) return encoder.encode(secret);
  const bytes = fromBase64(secret.slice(PREFIX.length));
  if (bytes === null || bytes.length === 0) {
    throw Errors.INVALID_CONFIG('the webhook secret starts with "whsec_" but the rest is not base64');
  }
  return bytes;
}

/** Signs one delivery and returns the headers to send with it. */
export async function signWebhook(input: SignInput): Promise<WebhookHeaders> {
  const timestamp = unixSeconds(input.timestamp);
  const mac = await hmac(input.secret, input.id, timestamp, input.body);
  return {
    'webhook-id': input.id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': `v1,${toBase64(mac)}`,
  };
}

/** Options for {@link verifyWebhook}. */
export interface VerifyOptions {
  /** How far the timestamp may be from now, either way (default 300 s, the spec's). */
  toleranceSeconds?: number;
  /** The current time in ms (default `Date.now()`), for tests. */
  now?: number;
}

/**
 * Verifies a delivery as a receiver would; throws UNAUTHORIZED naming what is wrong
 * (missing header, timestamp out of tolerance, no matching signature). Several
 * space-separated signatures are accepted (secret rotation); any `v1` one may match.
 */
export async function verifyWebhook(
  headers: Headers | Readonly<Record<string, string | undefined>>,
  body: string | Uint8Array,
  secret: WebhookSecret,
  options: VerifyOptions = {},
): Promise<void> {
  const { toleranceSeconds = 300, now = Date.now() } = options;
  const get = (name: keyof WebhookHeaders): string => {
    const v = headers instanceof Headers ? headers.get(name) : (headers[name] ?? headerCaseless(headers, name));
    if (v === null || v === undefined || v === '') throw Errors.UNAUTHORIZED(`the webhook has no ${name} header`);
    return v;
  };
  const id = get('webhook-id');
  const rawTimestamp = get('webhook-timestamp');
  const signatures = get('webhook-signature');
  if (!/^\d{1,15}$/.test(rawTimestamp)) throw Errors.UNAUTHORIZED(`the webhook-timestamp "${rawTimestamp}" is not unix seconds`);
  const timestamp = Number(rawTimestamp);
  const skew = Math.abs(Math.floor(now / 1000) - timestamp);
  if (skew > toleranceSeconds) {
    throw Errors.UNAUTHORIZED(`the webhook-timestamp is ${skew} s from now (tolerance ${toleranceSeconds} s)`, { skew });
  }
  const expected = await hmac(secret, id, timestamp, body);
  // Compare against every candidate, without stopping early, so the time taken says
  // nothing about which one (or which byte) matched.
  let ok = false;
  for (const candidate of signatures.split(' ')) {
    const comma = candidate.indexOf(',');
    if (comma < 0 || candidate.slice(0, comma) !== 'v1') continue;
    const given = fromBase64(candidate.slice(comma + 1));
    if (given !== null && timingSafeEqual(given, expected)) ok = true;
  }
  if (!ok) throw Errors.UNAUTHORIZED('no webhook-signature matches the body and secret');
}

/** Equal-length byte comparison whose time does not depend on where bytes differ. */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

async function hmac(secret: WebhookSecret, id: string, timestamp: number, body: string | Uint8Array): Promise<Uint8Array> {
  if (id.length === 0) throw Errors.INVALID_REQUEST('the webhook id is empty');
  const head = encoder.encode(`${id}.${timestamp}.`);
  const tail = typeof body === 'string' ? encoder.encode(body) : body;
  const data = new Uint8Array(head.length + tail.length);
  data.set(head, 0);
  data.set(tail, head.length);
  const key = await importKey(secret);
  return new Uint8Array(await crypto.subtle.sign('HMAC', key, data));
}

/** Imports once per secret: importKey is async and the same secret signs every delivery. */
function importKey(secret: WebhookSecret): Promise<CryptoKey> {
  const cached = typeof secret === 'string' ? stringKeys.get(secret) : keyCache.get(secret);
  if (cached) return cached;
  const bytes = secretBytes(secret);
  const key = crypto.subtle.importKey('raw', bytes as Uint8Array<ArrayBuffer>, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  if (typeof secret === 'string') {
    // A process holds a handful of secrets; the bound only guards against misuse.
    if (stringKeys.size >= 64) stringKeys.clear();
    stringKeys.set(secret, key);
  } else {
    keyCache.set(secret, key);
  }
  return key;
}

function unixSeconds(t: number | Date): number {
  const s = t instanceof Date ? Math.floor(t.getTime() / 1000) : t;
  if (!Number.isSafeInteger(s) || s < 0) throw Errors.INVALID_REQUEST(`the webhook timestamp ${String(t)} is not unix seconds`);
  return s;
}

function headerCaseless(headers: Readonly<Record<string, string | undefined>>, name: string): string | undefined {
  for (const k of Object.keys(headers)) if (k.toLowerCase() === name) return headers[k];
  return undefined;
}

/** Standard base64 of bytes. */
export function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return btoa(s);
}

/** Bytes of standard base64 (padding optional); null when it is not base64. */
function fromBase64(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  try {
    const s = atob(text);
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  } catch {
    return null;
  }
}
