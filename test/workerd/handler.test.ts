// The Workers entry's pieces on Node, fast: the precompiled-WASM backend (the same
// onnxruntime-web build and hook workerd runs), the memory budget, the build script's
// refusal of a model too large, and the handler's start-up (one build for concurrent first
// requests, a failed start answered with JSON every time).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import type { OrtModule } from '../../src/backends/onnxruntime.ts';
import { createPrecompiledWasmBackend } from '../../runtimes/workerd/precompiled-wasm.ts';
import { checkMemoryBudget, estimateMemory, ISOLATE_MEMORY_BYTES } from '../../runtimes/workerd/memory-budget.ts';
import { createWorker, type BundledModel, type WorkerContext, type WorkerEnv } from '../../runtimes/workerd/handler.ts';
import { buildWorkerd } from '../../scripts/build-workerd.ts';
import { COMPATIBILITY_DATE } from '../../runtimes/workerd/compatibility.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MiB = 1024 * 1024;
const loadOrt = () => import('onnxruntime-web/wasm') as unknown as Promise<OrtModule>;
const wasmPath = createRequire(import.meta.url).resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm');
// Compiled once here, as workerd compiles a CompiledWasm module before the Worker starts.
const compiled = await WebAssembly.compile(await readFile(wasmPath));

const modelBytes = async (): Promise<ArrayBuffer> => {
  const b = await readFile(join(ROOT, 'models/breast-cancer.onnx'));
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
};
const modelConfig = JSON.parse(await readFile(join(ROOT, 'models/breast-cancer.config.json'), 'utf8')) as unknown;
const ctx: WorkerContext = { waitUntil() {}, passThroughOnException() {}, props: {} };

// First in this file: onnxruntime-web initialises its WASM once per process, and this test
// must see that one initialisation.
test('precompiled WASM: the probe instantiates the given module, and WebAssembly.instantiate is restored', { timeout: 60_000 }, async () => {
  const original = WebAssembly.instantiate;
  const calls: string[] = [];
  const backend = createPrecompiledWasmBackend({ module: compiled, loadOrt, onInstantiate: (k) => calls.push(k) });
  const info = await backend.probe();
  assert.equal(info.version, '1.30.0');
  assert.deepEqual(calls, ['precompiled'], 'one instantiate, answered from the compiled module');
  assert.equal(WebAssembly.instantiate, original);
  const ort = await loadOrt();
  assert.equal(ort.env.wasm?.['numThreads'], 1);
  assert.equal(ort.env.wasm?.['proxy'], false);
});

test('memory budget: the demo model fits, a model over the isolate limit is refused with the numbers', () => {
  assert.ok(checkMemoryBudget([{ name: 'breast-cancer.onnx', bytes: 2954 }]) < ISOLATE_MEMORY_BYTES);
  assert.equal(estimateMemory([{ name: 'a', bytes: MiB }, { name: 'b', bytes: MiB }]), estimateMemory([{ name: 'ab', bytes: 2 * MiB }]));
  assert.throws(() => checkMemoryBudget([{ name: 'big.onnx', bytes: 40 * MiB }]), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'INVALID_CONFIG');
    assert.match(e.message, /big\.onnx 40\.0 MiB/);
    assert.match(e.message, /over the 128\.0 MiB an isolate may use/);
    return true;
  });
});

test('build-workerd refuses a model too large before writing anything', { timeout: 30_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'omniserve-workerd-big-'));
  try {
    const big = join(dir, 'big.onnx');
    const f = await open(big, 'w');
    await f.truncate(64 * MiB); // sparse: no disk used
    await f.close();
    const out = join(dir, 'out');
    await assert.rejects(buildWorkerd({ models: [big], outDir: out }), /too large for a Workers isolate/);
    await assert.rejects(stat(out), { code: 'ENOENT' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('handler: concurrent first requests share one build, then it serves', { timeout: 60_000 }, async () => {
  const models: BundledModel[] = [{ file: 'breast-cancer.onnx', bytes: await modelBytes(), config: modelConfig }];
  const worker = createWorker({ wasm: compiled, loadOrt, models });
  const env: WorkerEnv = {};
  const first = await Promise.all(Array.from({ length: 4 }, () => worker.fetch(new Request('http://w/health'), env, ctx)));
  for (const r of first) assert.equal(r.status, 200);
  const health = (await first[0]!.json()) as { models: { backend: string }[]; feature_store: unknown };
  assert.equal(health.models[0]!.backend, 'web-wasm');
  assert.equal(health.feature_store, null, 'no Upstash bindings: no feature store');
  const metrics = await (await worker.fetch(new Request('http://w/metrics'), env, ctx)).text();
  assert.match(metrics, /^omniserve_model_loads_total\{model="breast-cancer",result="ok"\} 1$/m);
  const noStore = await worker.fetch(new Request('http://w/predict', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"user_id":0}',
  }), env, ctx);
  assert.equal(noStore.status, 503);
  assert.equal(((await noStore.json()) as { code: string }).code, 'FEATURE_STORE_UNAVAILABLE');
});

test('handler: a failed start answers 503 JSON on every request', { timeout: 30_000 }, async () => {
  const cases: [string, BundledModel[], WorkerEnv, RegExp][] = [
    ['model too large', [{ file: 'big.onnx', bytes: new ArrayBuffer(40 * MiB) }], {}, /too large for a Workers isolate/],
    ['half the Upstash bindings', [{ file: 'm.onnx', bytes: await modelBytes() }], { UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:1' }, /set both or neither/],
    ['a bad number', [{ file: 'm.onnx', bytes: await modelBytes() }], { OMNISERVE_MAX_BODY_BYTES: '1e3x' }, /OMNISERVE_MAX_BODY_BYTES/],
    ['no model', [], {}, /no model/],
  ];
  const quiet = console.error;
  console.error = () => {};
  try {
    for (const [name, models, env, message] of cases) {
      const worker = createWorker({ wasm: compiled, loadOrt, models });
      for (let i = 0; i < 2; i++) {
        const r = await worker.fetch(new Request('http://w/health'), env, ctx);
        assert.equal(r.status, 503, name);
        assert.match(r.headers.get('content-type') ?? '', /^application\/json/, name);
        const body = (await r.json()) as { error: string; code: string };
        assert.equal(body.code, 'INVALID_CONFIG', name);
        assert.match(body.error, message, name);
      }
    }
  } finally {
    console.error = quiet;
  }
});

test('wrangler.toml: the compatibility date the tests use, the module rules the bundle needs', async () => {
  const toml = await readFile(join(ROOT, 'runtimes/workerd/wrangler.toml'), 'utf8');
  assert.match(toml, new RegExp(`^compatibility_date = "${COMPATIBILITY_DATE}"$`, 'm'));
  assert.match(toml, /type = "CompiledWasm", globs = \["\*\*\/\*\.wasm"\]/);
  assert.match(toml, /type = "Data", globs = \["\*\*\/\*\.onnx"\]/);
});
