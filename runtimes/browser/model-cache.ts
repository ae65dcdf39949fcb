/**
 * Model files for offline use: fetched once, kept in the Cache API, and checked (size and
 * SHA-256 with `crypto.subtle`) every time before use. A cached copy that fails its check is
 * dropped and fetched again; a download that fails its check, or a model over the target's
 * limit, is a named error (`MODEL_CORRUPT`, `MODEL_TOO_LARGE`). Web-API-only (runs in the
 * inference worker).
 * @module
 */
import { Errors } from '../../src/errors.ts';
import type { ModelFileInfo } from './types.ts';

/** What {@link loadModelFile} takes. */
export interface ModelFileOptions {
  readonly url: string;
  /** Expected hex SHA-256. Else the response's `Repr-Digest`/`Content-Digest` sha-256, if any. */
  readonly sha256?: string;
  /** Expected size in bytes. Else the response's `Content-Length` (when not content-encoded). */
  readonly size?: number;
  /** The largest model the target takes. */
  readonly limitBytes: number;
  /** Cache API cache name; `false`: no caching. Default `omniserve-models`. */
  readonly cacheName?: string | false;
  readonly fetch?: typeof fetch;
  readonly caches?: CacheStorage;
}

const SHA_HEADER = 'x-omniserve-sha256';
const SIZE_HEADER = 'x-omniserve-size';

/** Hex SHA-256 of `bytes`. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** The sha-256 of an RFC 9530 `Repr-Digest` / `Content-Digest` header (`sha-256=:base64:`), as hex. */
export function digestHeaderSha256(header: string | null): string | undefined {
  const m = header ? /(?:^|,)\s*sha-256=:([A-Za-z0-9+/=]+):/i.exec(header) : null;
  if (!m) return undefined;
  const bin = atob(m[1]!);
  let hex = '';
  for (let i = 0; i < bin.length; i++) hex += bin.charCodeAt(i).toString(16).padStart(2, '0');
  return hex.length === 64 ? hex : undefined;
}

const mib = (n: number) => `${(n / (1 << 20)).toFixed(n < 1 << 20 ? 3 : 1)} MiB`;

function tooLarge(url: string, sizeBytes: number, limitBytes: number): Error {
  return Errors.MODEL_TOO_LARGE(`model ${url} is ${mib(sizeBytes)}; this target takes at most ${mib(limitBytes)}`,
    { url, sizeBytes, limitBytes });
}

/** Reads a body, refusing to hold more than `limit` bytes. */
async function readLimited(res: Response, url: string, limit: number): Promise<Uint8Array> {
  const reader = res.body?.getReader();
  if (!reader) return new Uint8Array(await res.arrayBuffer());
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      throw tooLarge(url, total, limit);
    }
    parts.push(value);
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

/** Checks bytes against the expected size and hash; throws MODEL_CORRUPT naming both. */
async function check(url: string, bytes: Uint8Array, want: { size?: number; sha256?: string }, what: string): Promise<string> {
  if (want.size !== undefined && bytes.byteLength !== want.size) {
    throw Errors.MODEL_CORRUPT(`model ${url}: ${what} has ${bytes.byteLength} bytes, expected ${want.size} (truncated or corrupt download)`,
      { url, sizeBytes: bytes.byteLength, expectedBytes: want.size });
  }
  const sha = await sha256Hex(bytes);
  if (want.sha256 !== undefined && sha !== want.sha256.toLowerCase()) {
    throw Errors.MODEL_CORRUPT(`model ${url}: ${what} has SHA-256 ${sha}, expected ${want.sha256.toLowerCase()} (corrupt download or wrong file)`,
      { url, sha256: sha, expectedSha256: want.sha256.toLowerCase() });
  }
  return sha;
}

async function openCache(o: ModelFileOptions): Promise<Cache | undefined> {
  if (o.cacheName === false) return undefined;
  const storage = o.caches ?? (globalThis as { caches?: CacheStorage }).caches;
  if (!storage) return undefined;
  try {
    return await storage.open(o.cacheName ?? 'omniserve-models');
  } catch {
    return undefined; // opaque origins and some private modes refuse the Cache API: no offline copy then
  }
}

/** The model's bytes: from the cache when its copy checks out, else from the network (then cached). */
export async function loadModelFile(o: ModelFileOptions): Promise<{ bytes: Uint8Array; info: ModelFileInfo }> {
  const cache = await openCache(o);
  if (o.size !== undefined && o.size > o.limitBytes) throw tooLarge(o.url, o.size, o.limitBytes);
  if (cache) {
    const hit = await cache.match(o.url);
    if (hit) {
      const storedSha = hit.headers.get(SHA_HEADER) ?? undefined;
      const storedSize = Number(hit.headers.get(SIZE_HEADER) ?? NaN);
      const stale = (o.sha256 !== undefined && storedSha !== o.sha256.toLowerCase()) || (o.size !== undefined && storedSize !== o.size);
      if (!stale) {
        const bytes = new Uint8Array(await hit.arrayBuffer());
        if (bytes.byteLength > o.limitBytes) throw tooLarge(o.url, bytes.byteLength, o.limitBytes);
        try {
          const sha256 = await check(o.url, bytes, { size: storedSize, sha256: storedSha ?? '-' }, 'the cached copy');
          return { bytes, info: { url: o.url, sizeBytes: bytes.byteLength, sha256, source: 'cache', limitBytes: o.limitBytes } };
        } catch {
          // A damaged cached copy is not the user's problem: drop it and download again.
        }
      }
      await cache.delete(o.url);
    }
  }
  const f = o.fetch ?? fetch.bind(globalThis);
  let res: Response;
  try {
    res = await f(o.url);
  } catch (e) {
    throw Errors.MODEL_FILE_NOT_FOUND(`model ${o.url} could not be fetched: ${(e as Error).message}`, { url: o.url });
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw Errors.MODEL_FILE_NOT_FOUND(`model ${o.url} could not be fetched: HTTP ${res.status}`, { url: o.url, status: res.status });
  }
  const encoded = (res.headers.get('content-encoding') ?? 'identity') !== 'identity';
  const lengthHeader = res.headers.get('content-length');
  const length = lengthHeader !== null && !encoded ? Number(lengthHeader) : undefined;
  if (length !== undefined && length > o.limitBytes) {
    await res.body?.cancel();
    throw tooLarge(o.url, length, o.limitBytes);
  }
  const bytes = await readLimited(res, o.url, o.limitBytes);
  const want = {
    size: o.size ?? length,
    sha256: o.sha256 ?? digestHeaderSha256(res.headers.get('repr-digest')) ?? (encoded ? undefined : digestHeaderSha256(res.headers.get('content-digest'))),
  };
  const sha256 = await check(o.url, bytes, want, 'the download');
  if (cache) {
    const headers = { 'content-type': 'application/octet-stream', [SHA_HEADER]: sha256, [SIZE_HEADER]: String(bytes.byteLength) };
    try {
      await cache.put(o.url, new Response(bytes as Uint8Array<ArrayBuffer>, { headers }));
    } catch {
      // Quota exceeded: the model still runs, it just is not kept for offline use.
    }
  }
  return { bytes, info: { url: o.url, sizeBytes: bytes.byteLength, sha256, source: 'network', limitBytes: o.limitBytes } };
}
