// The model file checks on Node (Web APIs only: fetch Responses, crypto.subtle, a small
// in-memory CacheStorage): cache hits are checked, damaged copies refetched, downloads
// checked against Content-Length, `size`, `sha256` and `Repr-Digest`, and size limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { digestHeaderSha256, loadModelFile, sha256Hex } from './model-cache.ts';
import { isOmniserveError } from '../../src/errors.ts';

const BYTES = new Uint8Array(Array.from({ length: 5000 }, (_, i) => (i * 31) % 251));
const SHA = createHash('sha256').update(BYTES).digest('hex');
const URL_ = 'http://127.0.0.1/models/m.onnx';

function memoryCaches(): CacheStorage {
  const stores = new Map<string, Map<string, Response>>();
  const cache = (m: Map<string, Response>) => ({
    match: async (k: string) => m.get(k)?.clone(),
    put: async (k: string, r: Response) => void m.set(k, r.clone()),
    delete: async (k: string) => m.delete(k),
  });
  return { open: async (n: string) => cache(stores.get(n) ?? stores.set(n, new Map()).get(n)!) } as unknown as CacheStorage;
}

function server(body: Uint8Array, headers: Record<string, string> = {}) {
  let calls = 0;
  const fetch = (async () => {
    calls++;
    return new Response(body as Uint8Array<ArrayBuffer>, { headers: { 'content-length': String(body.byteLength), ...headers } });
  }) as unknown as typeof globalThis.fetch;
  return { fetch, calls: () => calls };
}

const code = (re: string) => (e: unknown) => isOmniserveError(e) && e.code === re;

test('sha256Hex and Repr-Digest parsing', async () => {
  assert.equal(await sha256Hex(BYTES), SHA);
  const b64 = createHash('sha256').update(BYTES).digest('base64');
  assert.equal(digestHeaderSha256(`sha-512=:abc=:, sha-256=:${b64}:`), SHA);
  assert.equal(digestHeaderSha256('md5=:abc:'), undefined);
  assert.equal(digestHeaderSha256(null), undefined);
});

test('download, cache, then a checked cache hit; a damaged cached copy is downloaded again', async () => {
  const caches = memoryCaches();
  const s = server(BYTES);
  const a = await loadModelFile({ url: URL_, limitBytes: 1 << 20, fetch: s.fetch, caches });
  assert.equal(a.info.source, 'network');
  assert.equal(a.info.sha256, SHA);
  const b = await loadModelFile({ url: URL_, limitBytes: 1 << 20, fetch: s.fetch, caches });
  assert.equal(b.info.source, 'cache');
  assert.equal(s.calls(), 1);
  const c = await caches.open('omniserve-models');
  const hit = (await c.match(URL_))!;
  const damaged = new Uint8Array(await hit.arrayBuffer());
  damaged[7]! ^= 1;
  await c.put(URL_, new Response(damaged, { headers: hit.headers }));
  const d = await loadModelFile({ url: URL_, limitBytes: 1 << 20, fetch: s.fetch, caches });
  assert.equal(d.info.source, 'network');
  assert.deepEqual(d.bytes, BYTES);
  // A new expected hash (the model was updated) is not served from the old copy.
  await assert.rejects(loadModelFile({ url: URL_, sha256: 'ab'.repeat(32), limitBytes: 1 << 20, fetch: s.fetch, caches }), code('MODEL_CORRUPT'));
});

test('corrupt downloads: wrong sha256, wrong Repr-Digest, truncated body, wrong size', async () => {
  const ok = { url: URL_, limitBytes: 1 << 20, cacheName: false as const };
  await assert.rejects(loadModelFile({ ...ok, sha256: '0'.repeat(64), fetch: server(BYTES).fetch }), code('MODEL_CORRUPT'));
  const other = createHash('sha256').update('x').digest('base64');
  await assert.rejects(loadModelFile({ ...ok, fetch: server(BYTES, { 'repr-digest': `sha-256=:${other}:` }).fetch }), code('MODEL_CORRUPT'));
  const truncated = (async () => new Response(BYTES.slice(0, 100), { headers: { 'content-length': '5000' } })) as unknown as typeof fetch;
  await assert.rejects(loadModelFile({ ...ok, fetch: truncated }), /5000|100 bytes/);
  await assert.rejects(loadModelFile({ ...ok, size: 4999, fetch: server(BYTES).fetch }), code('MODEL_CORRUPT'));
  const fine = await loadModelFile({ ...ok, sha256: SHA.toUpperCase(), size: 5000, fetch: server(BYTES).fetch });
  assert.equal(fine.info.sha256, SHA);
});

test('too large: by expected size, by Content-Length, and by the body itself', async () => {
  const small = { url: URL_, limitBytes: 4096, cacheName: false as const };
  await assert.rejects(loadModelFile({ ...small, size: 5000, fetch: server(BYTES).fetch }), code('MODEL_TOO_LARGE'));
  await assert.rejects(loadModelFile({ ...small, fetch: server(BYTES).fetch }), code('MODEL_TOO_LARGE'));
  const chunked = (async () => new Response(new Blob([BYTES]).stream())) as unknown as typeof fetch;
  await assert.rejects(loadModelFile({ ...small, fetch: chunked }), code('MODEL_TOO_LARGE'));
  const missing = (async () => new Response('no', { status: 404 })) as unknown as typeof fetch;
  await assert.rejects(loadModelFile({ ...small, fetch: missing }), code('MODEL_FILE_NOT_FOUND'));
});
