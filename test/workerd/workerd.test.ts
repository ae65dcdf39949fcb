// The Cloudflare Workers bundle in real workerd (Miniflare 4 from npm), over real HTTP:
// built by scripts/build-workerd.ts, features from a real Redis through the project's
// Upstash REST gateway. Checks goldens on /predict and OIP infer, health, metrics, bad
// requests, and that workerd really refuses to compile WebAssembly from bytes (so the
// precompiled-module path is what made inference work).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Miniflare } from 'miniflare';
import { binaryBody } from '../../src/http/binary-body.ts';
import { Redis } from 'ioredis';
import { buildWorkerd, type BuiltWorker } from '../../scripts/build-workerd.ts';
import { startRedisRestGateway, type RedisRestGateway } from '../../runtimes/native/redis-rest.ts';
import { startRedis, type RedisServer } from '../support/redis-server.ts';
import { COMPATIBILITY_DATE } from '../../runtimes/workerd/compatibility.ts';
import { writeFileSync } from 'node:fs';
import { SERVE_HOSTS, startWorker } from '../support/serve-process.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TOKEN = 'workerd-test-token';
const API_KEY = 'workerd-test-key-1';
const MAX_BODY_BYTES = 64 * 1024;
const TOL = 1e-4;
const HTTP_TIMEOUT_MS = 20_000;

interface Golden {
  inputs: Record<string, { dims: number[]; data: number[] }>;
  outputs: Record<string, { dims: number[]; data: number[] }>;
  records: Record<string, number>[];
}
const golden = JSON.parse(await readFile(join(ROOT, 'test/fixtures/goldens/breast-cancer.json'), 'utf8')) as Golden;
const logits = golden.outputs['logit']!.data;
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

type Json = Record<string, any>;

let outDir: string;
let built: BuiltWorker;
let redis: RedisServer | undefined;
let gateway: RedisRestGateway | undefined;
let mf: Miniflare | undefined;
let base: URL;

/** The workerd processes that are children of this test process, with their RSS. */
async function workerdRss(): Promise<{ pid: number; rssKiB: number }[]> {
  const out: { pid: number; rssKiB: number }[] = [];
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      const field = (k: string) => status.match(new RegExp(`^${k}:\\s*(\\S+)`, 'm'))?.[1];
      if (field('Name') === 'workerd' && Number(field('PPid')) === process.pid) out.push({ pid: Number(pid), rssKiB: Number(field('VmRSS')) });
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

/** Modules as Miniflare takes them: names relative to the bundle folder. */
const modulesOf = (b: BuiltWorker) => b.modules.map((m) => ({ type: m.type, path: m.path }));

async function call(path: string, init: RequestInit & { auth?: boolean } = {}): Promise<{ status: number; type: string; text: string; json?: Json }> {
  const headers = new Headers(init.headers);
  if (init.auth !== false) headers.set('authorization', `Bearer ${API_KEY}`);
  const res = await fetch(new URL(path, base), { ...init, headers, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  const text = await res.text();
  let json: Json | undefined;
  try {
    json = JSON.parse(text) as Json;
  } catch {
    json = undefined;
  }
  return { status: res.status, type: res.headers.get('content-type') ?? '', text, json };
}

const post = (path: string, body: unknown) =>
  call(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

before(async () => {
  outDir = await mkdtemp(join(tmpdir(), 'omniserve-workerd-'));
  built = await buildWorkerd({ outDir });
  redis = await startRedis();
  const seed = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await seed.connect();
    const p = seed.pipeline();
    golden.records.forEach((r, i) => p.hset(`user:${i}`, Object.fromEntries(Object.entries(r).map(([k, v]) => [k, String(v)]))));
    await p.exec();
  } finally {
    seed.disconnect();
  }
  gateway = await startRedisRestGateway({ redisUrl: redis.url, token: TOKEN });
  mf = new Miniflare({
    modulesRoot: built.outDir,
    modules: modulesOf(built),
    compatibilityDate: COMPATIBILITY_DATE,
    host: '127.0.0.1',
    port: 0,
    bindings: {
      UPSTASH_REDIS_REST_URL: gateway.url,
      UPSTASH_REDIS_REST_TOKEN: TOKEN,
      OMNISERVE_API_KEYS: API_KEY,
      OMNISERVE_MAX_BODY_BYTES: String(MAX_BODY_BYTES),
      OMNISERVE_QUEUE: 'upstash',
      OMNISERVE_FEATURE_CACHE_TTL_MS: '60000',
    },
  });
  base = await mf.ready;
}, { timeout: 120_000 });

after(async () => {
  await mf?.dispose().catch(() => {});
  await gateway?.close().catch(() => {});
  await redis?.stop().catch(() => {});
  if (outDir) await rm(outDir, { recursive: true, force: true });
}, { timeout: 30_000 });

describe('workerd bundle', { timeout: 180_000 }, () => {
  test('the bundle: worker.js, the CompiledWasm and the model as modules', () => {
    const names = built.modules.map((m) => `${m.type}:${relative(built.outDir, m.path)}`);
    assert.deepEqual(names, ['ESModule:worker.js', 'CompiledWasm:ort-wasm-simd-threaded.wasm', 'Data:breast-cancer.onnx']);
    assert.ok(built.totalBytes > 1_000_000 && built.gzipBytes < built.totalBytes);
  });

  test('/health: web-wasm on workerd, Upstash feature store ok', async (t) => {
    // The isolate's first requests, at once: they must share one build (see /metrics below).
    const first = await Promise.all(Array.from({ length: 5 }, () => call('/health', { auth: false })));
    for (const f of first) assert.equal(f.status, 200, f.text);
    const r = first[0]!;
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json?.['status'], 'healthy');
    assert.equal(r.json?.['host'], 'workerd');
    assert.deepEqual(r.json?.['feature_store'], { kind: 'upstash', ok: true });
    const [m, ...rest] = r.json?.['models'] as { warmup?: { runs?: number } }[];
    assert.equal(rest.length, 0);
    const { warmup, ...entry } = m!;
    assert.deepEqual(entry, { name: 'breast-cancer', versions: ['1'], default: '1', backend: 'web-wasm' });
    assert.equal(warmup?.runs, 1, 'warmed up once on load, inside the isolate');
    for (const p of await workerdRss()) t.diagnostic(`workerd pid ${p.pid}: RSS ${(p.rssKiB / 1024).toFixed(1)} MiB`);
  });

  test('/predict with user_id: features from Upstash, probabilities equal the goldens', async () => {
    for (const i of [0, 1, 2]) {
      const r = await post('/predict', { user_id: i });
      assert.equal(r.status, 200, r.text);
      assert.ok(Math.abs(r.json!['probability'] - sigmoid(logits[i]!)) < TOL, `row ${i}: ${r.json!['probability']} vs ${sigmoid(logits[i]!)}`);
      assert.equal(r.json!['prediction'], sigmoid(logits[i]!) >= 0.5 ? 1 : 0);
      assert.equal(r.json!['model'], 'breast-cancer');
      assert.equal(r.json!['features_used'].length, 30);
    }
    // Every row at once: concurrent requests share feature-store round trips and batches.
    const all = await Promise.all(golden.records.map((_, i) => post('/v1/models/breast-cancer/predict', { user_id: i })));
    all.forEach((r, i) => {
      assert.equal(r.status, 200, r.text);
      assert.ok(Math.abs(r.json!['probability'] - sigmoid(logits[i]!)) < TOL, `row ${i}`);
    });
    assert.ok(gateway!.stats.commands >= golden.records.length, 'the features came through the REST gateway');
  });

  test('/v2/models/breast-cancer/infer: the golden tensor gives the golden logits', async () => {
    const x = golden.inputs['features']!;
    const r = await post('/v2/models/breast-cancer/infer', {
      id: 'golden', inputs: [{ name: 'features', shape: x.dims, datatype: 'FP32', data: x.data }],
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json!['id'], 'golden');
    const out = (r.json!['outputs'] as Json[]).find((o) => o['name'] === 'logit')!;
    assert.deepEqual(out['shape'], golden.outputs['logit']!.dims);
    assert.equal(out['datatype'], 'FP32');
    (out['data'] as number[]).forEach((v, i) => assert.ok(Math.abs(v - logits[i]!) < TOL, `logit ${i}: ${v} vs ${logits[i]}`));
  });

  test('/v2/models/breast-cancer/infer with binary tensor data: the golden tensor as raw float32 gives the golden logits', async () => {
    const x = golden.inputs['features']!;
    const bin = binaryBody({
      inputs: [{ name: 'features', shape: x.dims, datatype: 'FP32', parameters: { binary_data_size: x.data.length * 4 } }],
    }, [Float32Array.from(x.data)]);
    const res = await fetch(new URL('/v2/models/breast-cancer/infer', base), {
      method: 'POST', body: bin.body, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/octet-stream', 'inference-header-content-length': String(bin.headerLength) },
    });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    const out = ((JSON.parse(text) as Json)['outputs'] as Json[]).find((o) => o['name'] === 'logit')!;
    (out['data'] as number[]).forEach((v, i) => assert.ok(Math.abs(v - logits[i]!) < TOL, `logit ${i}: ${v} vs ${logits[i]}`));
  });

  test('OMNISERVE_FEATURE_CACHE_TTL_MS: a hash read before is served from the isolate\'s memory, no gateway command', async () => {
    // user 5 was read by the test above; a direct feature changes the record, so the
    // prediction cache does not answer before the feature store is asked.
    const before = gateway!.stats.commands;
    const r = await post('/predict', { user_id: 5, context: { mean_radius: 14.5 } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json!['features_used'].length, 30);
    assert.equal(gateway!.stats.commands, before, 'no HGETALL went to the gateway');
    const m = await call('/metrics', { auth: false });
    assert.match(m.text, /^omniserve_feature_cache_hits_total [1-9]\d*$/m);
    assert.match(m.text, /^omniserve_feature_cache_misses_total [1-9]\d*$/m);
  });

  test('/metrics: Prometheus text with the requests served', async () => {
    const r = await call('/metrics', { auth: false });
    assert.equal(r.status, 200);
    assert.match(r.type, /^text\/plain/);
    assert.match(r.text, /^omniserve_requests_total\{[^}]*route="\/predict"[^}]*status="200"[^}]*\} \d+/m);
    // One load: the concurrent first requests shared one build.
    assert.match(r.text, /^omniserve_model_loads_total\{model="breast-cancer",result="ok"\} 1$/m);
    assert.match(r.text, /omniserve_feature_store_duration_seconds_count\{store="upstash"\} \d+/);
    assert.match(r.text, /omniserve_backend_info\{[^}]*backend="web-wasm"/);
  });

  test('bad requests get JSON errors, and the worker answers afterwards', async () => {
    const rec0 = golden.records[0]!;
    const { mean_radius: _dropped, ...noRadius } = rec0;
    const json = { 'content-type': 'application/json' };
    const big = JSON.stringify({ features: rec0, pad: 'x'.repeat(MAX_BODY_BYTES) });
    const chunked = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 8; i++) c.enqueue(new Uint8Array(MAX_BODY_BYTES / 4).fill(0x20));
        c.close();
      },
    });
    const cases: [string, Promise<Awaited<ReturnType<typeof call>>>, number, string][] = [
      ['malformed JSON', call('/predict', { method: 'POST', headers: json, body: '{"user_id": 1, ' }), 400, 'INVALID_JSON'],
      ['text/plain', call('/predict', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"user_id":0}' }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['oversized (Content-Length)', call('/predict', { method: 'POST', headers: json, body: big }), 413, 'PAYLOAD_TOO_LARGE'],
      ['oversized (chunked)', call('/predict', { method: 'POST', headers: json, body: chunked, duplex: 'half' } as RequestInit), 413, 'PAYLOAD_TOO_LARGE'],
      ['unknown model', post('/v1/models/nope/predict', { user_id: 0 }), 404, 'MODEL_NOT_FOUND'],
      ['unknown model (OIP)', post('/v2/models/nope/infer', { inputs: [{ name: 'features', shape: [1, 30], datatype: 'FP32', data: Object.values(rec0) }] }), 404, 'MODEL_NOT_FOUND'],
      ['missing feature', post('/predict', { features: noRadius }), 422, 'MISSING_FEATURE'],
      ['unknown user', post('/predict', { user_id: 'no-such-user' }), 404, 'ENTITY_NOT_FOUND'],
      ['no bearer key', call('/predict', { method: 'POST', headers: json, body: '{"user_id":0}', auth: false }), 401, 'UNAUTHORIZED'],
      ['unknown route', call('/nope'), 404, 'NOT_FOUND'],
    ];
    for (const [name, pending, status, code] of cases) {
      const r = await pending;
      assert.equal(r.status, status, `${name}: ${r.text.slice(0, 300)}`);
      assert.match(r.type, /^application\/json/, name);
      assert.equal(r.json?.['code'], code, `${name}: ${r.text.slice(0, 300)}`);
      assert.equal(typeof r.json?.['error'], 'string', name);
      assert.doesNotMatch(r.text, /\bat [\w.<>]+ \(|\.ts:\d+/, `${name}: no stack trace`);
    }
    const missing = await post('/predict', { features: noRadius });
    assert.equal(missing.json?.['details']?.['feature'], 'mean_radius');
    const ok = await post('/predict', { user_id: 3 });
    assert.equal(ok.status, 200, ok.text);
    assert.ok(Math.abs(ok.json!['probability'] - sigmoid(logits[3]!)) < TOL);
  });
});

describe('workerd itself', { timeout: 60_000 }, () => {
  test('refuses to compile WebAssembly from bytes (why the bundle imports a CompiledWasm module)', async () => {
    const probe = new Miniflare({
      modules: true,
      compatibilityDate: COMPATIBILITY_DATE,
      script: `export default { async fetch() {
        try { await WebAssembly.instantiate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])); return new Response('compiled'); }
        catch (e) { return new Response(String(e)); } } };`,
    });
    try {
      const res = await probe.dispatchFetch('http://probe/', { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
      assert.match(await res.text(), /CompileError: .*disallowed by embedder/);
    } finally {
      await probe.dispose();
    }
  });
});

describe('workerd async: the edge submits over Upstash REST, an omniserve worker on Node drains the same queue', { timeout: 180_000 }, () => {
  const submit = (body: unknown, key?: string) => call('/predict/async', {
    method: 'POST', headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) }, body: JSON.stringify(body),
  });

  test('submit at the edge → 202 pending; a Node worker completes it; the edge answers the golden result', async () => {
    const ids: string[] = [];
    for (const i of [0, 1, 2]) {
      const r = await submit({ user_id: i }, `edge-job-${i}`);
      assert.equal(r.status, 202, r.text);
      assert.equal(r.json?.['status'], 'pending');
      ids.push(String(r.json?.['request_id']));
    }
    const again = await submit({ user_id: 0 }, 'edge-job-0');
    assert.equal(again.status, 202, again.text);
    assert.equal(again.json?.['request_id'], ids[0], 'the idempotency key gives the first id back');
    const pending = await call(`/predict/${ids[1]}`);
    assert.equal(pending.status, 200, pending.text);
    assert.equal(pending.json?.['status'], 'pending', 'nothing drains the queue yet');
    assert.equal((await call('/predict/no-such-job')).status, 404);
    const bad = await submit({ features: { mean_radius: 'abc' } });
    assert.equal(bad.status, 422, bad.text);

    // The same Redis through TCP: what `omniserve worker` uses.
    const config = join(outDir, 'worker.json');
    writeFileSync(config, JSON.stringify({
      models: [{ path: join(ROOT, 'test/fixtures/models/breast-cancer.onnx') }],
      featureStore: { kind: 'redis', url: redis!.url },
      queue: { kind: 'redis', url: redis!.url },
    }));
    const worker = (await startWorker(SERVE_HOSTS[0]!, config, { name: 'edge-worker' })).proc;
    try {
      for (const [k, id] of ids.entries()) {
        let job: Json | undefined;
        for (const t0 = Date.now(); Date.now() - t0 < 60_000;) {
          const r = await call(`/predict/${id}`);
          assert.equal(r.status, 200, r.text);
          job = r.json;
          if (job?.['status'] === 'completed' || job?.['status'] === 'failed') break;
          await new Promise((res) => setTimeout(res, 100));
        }
        assert.equal(job?.['status'], 'completed', `${JSON.stringify(job)}\n${worker.outputTail()}`);
        const p = (job?.['result'] as Json)['probability'] as number;
        assert.ok(Math.abs(p - sigmoid(logits[k]!)) <= TOL, `job ${k}: probability ${p} vs ${sigmoid(logits[k]!)}`);
      }
    } finally {
      await worker.stop({ graceMs: 5_000 });
    }
  });
});
