// WorkerPool over real Node worker threads (onnxruntime-node CPU): golden-equal results,
// spreading calls, event-loop lag against in-process inference, OVERLOADED, a killed
// worker, a crash loop, close.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createNativeRuntime } from '../../runtimes/native/runtime.ts';
import { createNodeWorkerPool, spawnNodeInferenceWorker } from '../../runtimes/native/worker-pool.ts';
import { createEngine } from '../engine.ts';
import { isOmniserveError, type ErrorCode } from '../errors.ts';
import type { FeatureRecord } from './features.ts';
import { WorkerPool, type PoolWorker } from './worker-pool.ts';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));
const MODELS = ['breast-cancer', 'digits'] as const;
const OUT = { 'breast-cancer': 'logit', digits: 'logits' } as const;
type Golden = { records: FeatureRecord[]; outputs: Record<string, { dims: number[]; data: number[] }> };
const golden = (m: string): Golden => JSON.parse(readFileSync(`${FIXTURES}goldens/${m}.json`, 'utf8'));
const modelOpts = (m: string) => ({
  name: m, version: '1', backend: 'native-cpu' as const,
  bytes: new Uint8Array(readFileSync(`${FIXTURES}models/${m}.onnx`)),
  config: JSON.parse(readFileSync(`${FIXTURES}models/${m}.config.json`, 'utf8')) as unknown,
});
const T = { timeout: 120_000 };

function assertClose(got: unknown, want: number[], what: string): void {
  const g = typeof got === 'number' ? [got] : (got as number[]);
  assert.equal(g.length, want.length, what);
  g.forEach((x, i) => assert.ok(Math.abs(x - want[i]!) <= 1e-4 * Math.max(1, Math.abs(want[i]!)), `${what}[${i}]: got ${x}, want ${want[i]}`));
}

async function rejectsCode(code: ErrorCode, p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    assert.ok(isOmniserveError(e), `expected OmniserveError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  return assert.fail(`expected ${code}, but the call succeeded`);
}

// A model heavy enough to block a thread for ~100 ms per call: x·W, 256 times (W 512×512).
// Encoded by hand (protobuf wire format) to need no fixture file and no python.
const cat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((o, p) => (out.set(p, o), o + p.length), 0);
  return out;
};
const vint = (n: number) => { const b: number[] = []; for (; n > 127; n = Math.floor(n / 128)) b.push((n % 128) | 128); b.push(n); return Uint8Array.from(b); };
const num = (f: number, n: number) => cat([vint(f * 8), vint(n)]);
const len = (f: number, ...parts: Uint8Array[]) => { const body = cat(parts); return cat([vint(f * 8 + 2), vint(body.length), body]); };
const str = (f: number, s: string) => len(f, new TextEncoder().encode(s));
const valueInfo = (f: number, name: string, dims: (number | string)[]) => // ValueInfoProto, float tensor
  len(f, str(1, name), len(2, len(1, num(1, 1), len(2, ...dims.map((d) => len(1, typeof d === 'number' ? num(1, d) : str(2, d)))))));
const initializer = (name: string, dims: number[], value: number) =>
  len(5, ...dims.map((d) => num(1, d)), num(2, 1), str(8, name), len(9, new Uint8Array(new Float32Array(dims[0]! * dims[1]!).fill(value).buffer)));
const node = (op: string, inputs: string[], output: string) => len(1, ...inputs.map((i) => str(1, i)), str(2, output), str(4, op));
const WIDTH = 512;
function heavyModel(depth: number): Uint8Array {
  const chain = Array.from({ length: depth }, (_, i) => node('MatMul', [i ? `h${i}` : 'x', 'W'], `h${i + 1}`));
  const graph = len(7, ...chain, node('MatMul', [`h${depth}`, 'V'], 'y'), str(2, 'heavy'),
    initializer('W', [WIDTH, WIDTH], 1 / WIDTH), initializer('V', [WIDTH, 1], 1), valueInfo(11, 'x', ['batch', WIDTH]), valueInfo(12, 'y', ['batch', 1]));
  return cat([num(1, 8), graph, len(8, str(1, ''), num(2, 17))]);
}
// One onnxruntime thread per session: on a 2-core machine the event loop keeps a core.
const HEAVY = { name: 'heavy', version: '1', backend: 'native-cpu' as const, bytes: heavyModel(256), session: { threads: 1 } };
const heavyRecords = Array.from({ length: 64 }, (_, i) => ({ x: Array.from({ length: WIDTH }, (_, j) => (i + j) % 7) }));

/** How late each tick of a 5 ms interval timer fired while `work` ran: max, p95 and median, in ms. */
async function lag(work: () => Promise<unknown>): Promise<{ max: number; p95: number; p50: number }> {
  const lags: number[] = [];
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    lags.push(now - last - 5);
    last = now;
  }, 5);
  try {
    await work();
  } finally {
    clearInterval(timer);
    lags.push(performance.now() - last - 5); // a block at the very end counts too
  }
  lags.sort((a, b) => a - b);
  const at = (q: number) => lags[Math.min(lags.length - 1, Math.floor(q * lags.length))]!;
  return { max: lags.at(-1)!, p95: at(0.95), p50: at(0.5) };
}

const waitFor = async (what: string, cond: () => boolean, ms = 30_000) => {
  for (const end = Date.now() + ms; !cond(); await new Promise((r) => setTimeout(r, 10))) if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
};

let pool: WorkerPool;
before(async () => {
  pool = createNodeWorkerPool({ size: 2 });
  await Promise.all([...MODELS.map((m) => pool.load(modelOpts(m))), pool.load(HEAVY)]);
});
after(() => pool.close());

test('a pool of 2: breast-cancer and digits predictions equal the goldens and in-process predictions', T, async () => {
  const engine = createEngine(createNativeRuntime(), { backend: 'native-cpu' });
  try {
    for (const m of MODELS) {
      const g = golden(m);
      const o = modelOpts(m);
      const local = await (await engine.models.load({ source: o.bytes, name: m, config: o.config })).predict(g.records);
      const [batched, ...single] = await Promise.all([pool.predict(m, '1', g.records), ...g.records.map((r) => pool.predict(m, '1', [r]))]);
      const { dims, data } = g.outputs[OUT[m]]!;
      const w = dims[1]!;
      batched!.forEach((r, i) => {
        assertClose(r.outputs[OUT[m]], data.slice(i * w, (i + 1) * w), `${m} row ${i}`);
        assert.deepEqual(r, local[i], `${m} row ${i}: pool and in-process agree`);
        assert.deepEqual(single[i]![0], r, `${m} row ${i}: batch 1 and batched agree`);
      });
    }
  } finally {
    await engine.close();
  }
});

test('errors keep their codes across the port; infer returns tensors', T, async () => {
  await rejectsCode('MISSING_FEATURE', pool.predict('breast-cancer', '1', [{}]));
  await rejectsCode('MODEL_NOT_FOUND', pool.predict('nope', '1', [{}]));
  await rejectsCode('INVALID_MODEL', pool.load({ name: 'bad', version: '1', bytes: new Uint8Array([1, 2, 3]), backend: 'native-cpu' }));
  await rejectsCode('MODEL_NOT_FOUND', pool.predict('bad', '1', [{}]));
  const data = new Float32Array(64 * 2).fill(3);
  const out = await pool.infer('digits', '1', { image: { dtype: 'float32', dims: [2, 1, 8, 8], data } }, { transfer: true });
  assert.equal(data.byteLength, 0, 'the input buffer moved to the worker');
  assert.deepEqual(out['logits']!.dims, [2, 10]);
  assert.ok(out['logits']!.data instanceof Float32Array);
});

test('200 concurrent predicts spread over both workers', T, async () => {
  const before = pool.stats().workers.map((w) => w.calls);
  const g = golden('breast-cancer');
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => pool.predict('breast-cancer', '1', [g.records[i % 32]!])));
  results.forEach((r, i) => assertClose(r[0]!.outputs['logit'], [g.outputs['logit']!.data[i % 32]!], `call ${i}`));
  const s = pool.stats();
  const calls = s.workers.map((w, i) => w.calls - before[i]!);
  assert.equal(calls[0]! + calls[1]!, 200);
  assert.ok(calls.every((n) => n >= 20), `both workers took a share: ${calls.join(' / ')}`);
  assert.equal(s.inFlight, 0);
  assert.equal(s.queued, 0);
});

// The same sequential heavy calls, in-process and in the pool. In-process, nearly every
// tick waits for a whole call. A shared 2-core machine alone delays single ticks by up to
// ~100 ms now and then, so the pool's bound is on the 95th percentile (its max is reported),
// and the best of three runs counts.
test('the event loop stays responsive while heavy calls run in the pool, unlike in-process', T, async (t) => {
  const engine = createEngine(createNativeRuntime(), { backend: 'native-cpu' });
  const fmt = (l: { max: number; p95: number; p50: number }) => `max ${l.max.toFixed(1)}, p95 ${l.p95.toFixed(1)}, median ${l.p50.toFixed(1)} ms`;
  try {
    const local = await engine.models.load({ source: HEAVY.bytes, name: 'heavy', session: HEAVY.session });
    await local.predict(heavyRecords); // warm-up, as the pool's first call below
    await pool.predict('heavy', '1', heavyRecords);
    const t0 = performance.now();
    const inProcess = await lag(async () => { for (let i = 0; i < 4; i++) await local.predict(heavyRecords); });
    const callMs = (performance.now() - t0) / 4;
    let pooled = { max: Infinity, p95: Infinity, p50: Infinity };
    for (let i = 0; i < 3 && pooled.p95 >= 25; i++) {
      const l = await lag(async () => { for (let k = 0; k < 4; k++) await pool.predict('heavy', '1', heavyRecords); });
      if (l.p95 < pooled.p95) pooled = l;
    }
    t.diagnostic(`one heavy call ≈ ${callMs.toFixed(0)} ms; event-loop lag in-process: ${fmt(inProcess)}; pool: ${fmt(pooled)}`);
    assert.ok(pooled.p95 < 25, `pool lag: ${fmt(pooled)}`);
    if (callMs < 60) return t.diagnostic('this machine runs the heavy model too fast to compare with in-process');
    assert.ok(inProcess.p50 > 2 * pooled.p95 && inProcess.p50 > 40, `in-process lag (${fmt(inProcess)}) should dwarf the pool's`);
  } finally {
    await engine.close();
  }
});

test('a full queue answers OVERLOADED at once', T, async () => {
  const p = createNodeWorkerPool({ size: 1, concurrency: 1, maxQueue: 2 });
  try {
    await p.load(HEAVY);
    const running = [0, 1, 2].map(() => p.predict('heavy', '1', heavyRecords));
    assert.deepEqual([p.stats().inFlight, p.stats().queued], [1, 2]);
    const refused = p.predict('heavy', '1', heavyRecords);
    const first = await Promise.race([refused.then(() => 'ok', () => 'rejected'), new Promise((r) => setImmediate(r, 'pending'))]);
    assert.equal(first, 'rejected', 'rejected at once, not after waiting for a slot');
    const e = await rejectsCode('OVERLOADED', refused);
    assert.match(e.message, /limit 2/);
    await Promise.all(running);
  } finally {
    await p.close();
  }
});

test('a killed worker fails its in-flight call with INFERENCE_FAILED; it is replaced with its models', T, async () => {
  const spawned: ReturnType<typeof spawnNodeInferenceWorker>[] = [];
  const p = new WorkerPool({ size: 1, concurrency: 1, backoffMs: 10, spawn: () => { spawned.push(spawnNodeInferenceWorker()); return spawned.at(-1)!; } });
  try {
    await Promise.all([p.load(HEAVY), p.load(modelOpts('breast-cancer'))]);
    // A call the worker spends its first ~100 ms decoding (20,000 rows as JSON-like arrays),
    // so terminate() lands in JavaScript: terminating a thread inside onnxruntime's native
    // run can abort the whole process (a Napi::Error thrown where nothing catches it; seen
    // once in CI), which is not what this test is about.
    const slowRecords = Array.from({ length: 20_000 }, (_, i) => ({ x: Array.from({ length: WIDTH }, (_, j) => (i + j) % 7) }));
    const inFlight = p.predict('heavy', '1', slowRecords);
    const queued = p.predict('breast-cancer', '1', golden('breast-cancer').records.slice(0, 2));
    assert.equal(p.stats().inFlight, 1);
    await spawned[0]!.worker.terminate();
    const e = await rejectsCode('INFERENCE_FAILED', inFlight);
    assert.match(e.message, /worker 0 died: the worker exited with code 1/);
    // The queued call was not on the dead worker: it waits for the replacement and succeeds.
    const r = await queued;
    assertClose(r[1]!.outputs['logit'], [golden('breast-cancer').outputs['logit']!.data[1]!], 'after the restart');
    await p.predict('heavy', '1', heavyRecords);
    const s = p.stats();
    assert.equal(spawned.length, 2);
    assert.deepEqual([s.state, s.crashes, s.restarts, s.workers[0]!.state], ['running', 1, 1, 'ready']);
    assert.match(s.workers[0]!.lastExit!, /exited with code 1/);
  } finally {
    await p.close();
  }
});

test('a crash loop: after maxCrashes the pool stops replacing and fails calls naming the reason', T, async () => {
  let spawns = 0;
  // Workers that die at once (a missing native library, say); nothing answers on the port.
  const dying = (): PoolWorker => {
    spawns++;
    const { port1, port2 } = new MessageChannel();
    return { endpoint: port1, terminate: () => port2.close(), onExit: (l) => { setTimeout(() => { port1.close(); l('libonnxruntime.so: cannot open shared object file'); }, 5); } };
  };
  const p = new WorkerPool({ size: 2, maxCrashes: 4, backoffMs: 1, spawn: dying });
  try {
    await rejectsCode('INFERENCE_FAILED', p.load(modelOpts('breast-cancer')));
    await waitFor('the pool to give up', () => p.stats().state === 'failed');
    const spawnsThen = spawns;
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(spawns, spawnsThen, 'no replacement once the pool gave up');
    const s = p.stats();
    assert.ok(s.crashes >= 4, `${s.crashes} crashes`);
    assert.deepEqual([s.crashes, s.restarts, s.ready], [spawns, spawns - 2, 0], 'every worker died once; replacements are restarts');
    assert.match(s.reason!, /4 worker crashes within 60 s \(last: libonnxruntime\.so: cannot open/);
    const e = await rejectsCode('INFERENCE_FAILED', p.predict('breast-cancer', '1', [{}]));
    assert.match(e.message, /worker pool is down: 4 worker crashes/);
  } finally {
    await p.close();
  }
});

test('close() lets running calls finish, terminates the workers, then refuses calls with SHUTTING_DOWN', T, async () => {
  const spawned: ReturnType<typeof spawnNodeInferenceWorker>[] = [];
  const p = new WorkerPool({ size: 2, spawn: () => { spawned.push(spawnNodeInferenceWorker()); return spawned.at(-1)!; } });
  const exits = spawned.map((h) => new Promise((r) => h.worker.once('exit', r)));
  await p.load(HEAVY);
  const running = p.predict('heavy', '1', heavyRecords);
  const closing = p.close();
  await rejectsCode('SHUTTING_DOWN', p.predict('heavy', '1', heavyRecords));
  await rejectsCode('SHUTTING_DOWN', p.load(modelOpts('digits')));
  assert.equal((await running).length, heavyRecords.length, 'the running call finished');
  await closing;
  await Promise.all(exits);
  assert.deepEqual(p.stats().workers.map((w) => w.state), ['stopped', 'stopped']);
  assert.equal(p.stats().state, 'closed');
});

test('close() during a model load lets the load finish before terminating the worker (terminating onnxruntime mid-init aborts the process)', T, async () => {
  const Comlink = await import('comlink');
  const events: string[] = [];
  // A worker whose load takes 300 ms; terminate() notes whether the load had finished.
  const slow = (): PoolWorker => {
    const { port1, port2 } = new MessageChannel();
    Comlink.expose({
      ping: async () => true,
      load: async () => { events.push('load started'); await new Promise((r) => setTimeout(r, 300)); events.push('load finished'); return { name: 'breast-cancer', version: '1' }; },
      close: async () => { events.push('close'); },
    }, port2);
    let exit: (reason: string) => void = () => {};
    return { endpoint: port1, terminate: () => { events.push('terminate'); port1.close(); port2.close(); exit('terminated'); }, onExit: (l) => { exit = l; } };
  };
  const p = new WorkerPool({ size: 1, spawn: slow });
  const loading = p.load(modelOpts('breast-cancer'));
  await waitFor('the load to start', () => events.includes('load started'));
  await p.close();
  await loading;
  assert.deepEqual(events, ['load started', 'load finished', 'close', 'terminate']);
});
