// ModelRegistry over a real engine (onnxruntime-node CPU) and the fixture models: names,
// sidecar configs, sources (path, bytes, file: URL, HTTP), versions, unload, bad sidecars.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createNativeRuntime } from '../../runtimes/native/runtime.ts';
import { createEngine, type Engine } from '../engine.ts';
import { isOmniserveError, type ErrorCode } from '../errors.ts';
import { BackendRegistry } from '../backends/registry.ts';
import { ModelRegistry } from './registry.ts';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));
const MODEL = join(FIXTURES, 'models', 'breast-cancer.onnx');
const SIDECAR = join(FIXTURES, 'models', 'breast-cancer.config.json');
const BYTES = new Uint8Array(readFileSync(MODEL));
const golden = JSON.parse(readFileSync(join(FIXTURES, 'goldens', 'breast-cancer.json'), 'utf8')) as {
  inputs: { features: { data: number[] } };
  outputs: { logit: { data: number[] } };
  records: Record<string, number>[];
};
/** Row `i` of the goldens as a direct array under the input name (no feature names needed). */
const directRow = (i: number) => ({ features: golden.inputs.features.data.slice(i * 30, (i + 1) * 30) });
const close = (got: unknown, want: number) =>
  assert.ok(typeof got === 'number' && Math.abs(got - want) <= 1e-4 * Math.max(1, Math.abs(want)), `got ${String(got)}, want ${want}`);

let tmp: string;

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'omniserve-registry-'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A fresh engine per test, pinned to native-cpu (no GPU probing). */
async function withEngine(fn: (e: Engine) => Promise<void>): Promise<void> {
  const engine = createEngine(createNativeRuntime(), { backend: 'native-cpu' });
  try {
    await fn(engine);
  } finally {
    await engine.close();
  }
}

/** A new directory under the temp dir holding a copy of the model as `file`, and optionally a sidecar. */
function modelDir(dir: string, file: string, sidecar?: string): string {
  const d = join(tmp, dir);
  mkdirSync(d, { recursive: true });
  copyFileSync(MODEL, join(d, file));
  if (sidecar !== undefined) writeFileSync(join(d, file.replace(/\.onnx$/, '.config.json')), sidecar);
  return join(d, file);
}

async function rejectsCode(code: ErrorCode, fn: () => Promise<unknown>) {
  try {
    await fn();
  } catch (e) {
    assert.ok(isOmniserveError(e), `expected OmniserveError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected ${code}, but the call succeeded`);
}

const T = { timeout: 60_000 };

test('a path without sidecar: name from the file name, version 1, no features', T, () => withEngine(async (e) => {
  const path = modelDir('plain', 'renamed-model.onnx');
  const m = await e.models.load({ source: path });
  assert.equal(m.name, 'renamed-model');
  assert.equal(m.version, '1');
  assert.equal(m.backend.id, 'native-cpu');
  assert.deepEqual(m.features, {});
  assert.equal(m.metadata.sizeBytes, BYTES.byteLength);
  assert.deepEqual(m.metadata.inputs.map((s) => s.name), ['features']);
  const [r] = await m.predict([directRow(3)]);
  close(r!.outputs['logit'], golden.outputs.logit.data[3]!);
  assert.equal(r!.probability, undefined, 'no sidecar, no post-processing');
  assert.ok(e.models.has('renamed-model', '1'));
}));

test('the sidecar <name>.config.json beside the model is picked up', T, () => withEngine(async (e) => {
  const m = await e.models.load({ source: MODEL });
  assert.equal(m.name, 'breast-cancer');
  assert.equal(m.version, '1');
  const want = JSON.parse(readFileSync(SIDECAR, 'utf8')).inputs.features.features as string[];
  assert.deepEqual(m.features['features'], want);
  assert.deepEqual(m.metadata.features['features'], want);
  assert.equal(m.config.outputs['logit']?.postprocess, 'sigmoid');
  const res = await m.predict(golden.records.slice(0, 4));
  res.forEach((r, i) => {
    close(r.outputs['logit'], golden.outputs.logit.data[i]!);
    assert.ok(r.label === 'malignant' || r.label === 'benign');
  });
}));

test('the sidecar name and version win over the file name', T, () => withEngine(async (e) => {
  const cfg = { ...JSON.parse(readFileSync(SIDECAR, 'utf8')), name: 'from-config', version: '3' };
  const path = modelDir('named', 'other.onnx', JSON.stringify(cfg));
  const m = await e.models.load({ source: path });
  assert.equal(m.name, 'from-config');
  assert.equal(m.version, '3');
  assert.equal(m.features['features']?.length, 30);
}));

test('explicit name and version override config and file name', T, () => withEngine(async (e) => {
  const m = await e.models.load({ source: MODEL, name: 'bc', version: '7' });
  assert.equal(m.name, 'bc');
  assert.equal(m.version, '7');
  assert.equal(m.features['features']?.length, 30, 'sidecar still read');
  assert.ok(e.models.has('bc', '7'));
  assert.equal(e.models.has('breast-cancer'), false);
  assert.equal(e.models.get('bc'), m);
}));

test('an explicit config replaces the sidecar (which is then not read)', T, () => withEngine(async (e) => {
  const path = modelDir('explicit', 'm.onnx', '{ not json');
  const m = await e.models.load({ source: path, config: { outputs: { logit: { postprocess: 'sigmoid' } } } });
  assert.equal(m.name, 'm');
  assert.deepEqual(m.features, {});
  const [r] = await m.predict([directRow(0)]);
  assert.equal(typeof r!.probability, 'number');
}));

test('loading from bytes (Uint8Array and ArrayBuffer)', T, () => withEngine(async (e) => {
  const a = await e.models.load({ source: BYTES.slice() });
  assert.equal(a.name, 'model');
  assert.equal(a.version, '1');
  assert.deepEqual(a.features, {});
  const buf = BYTES.buffer.slice(BYTES.byteOffset, BYTES.byteOffset + BYTES.byteLength) as ArrayBuffer;
  const b = await e.models.load({ source: buf, name: 'ab', config: JSON.parse(readFileSync(SIDECAR, 'utf8')) });
  assert.equal(b.name, 'ab');
  assert.equal(b.features['features']?.length, 30);
  const [r] = await b.predict([golden.records[1]!]);
  close(r!.outputs['logit'], golden.outputs.logit.data[1]!);
}));

test('loading from a file: URL (object or string, percent-encoded path) reads the sidecar too', T, () => withEngine(async (e) => {
  const path = modelDir('with space %25', 'breast-cancer.onnx', readFileSync(SIDECAR, 'utf8'));
  const url = pathToFileURL(path);
  assert.match(url.href, /with%20space%20%2525/);
  const m = await e.models.load({ source: url });
  assert.equal(m.name, 'breast-cancer');
  assert.equal(m.features['features']?.length, 30);
  const s = await e.models.load({ source: url.href, version: '2' });
  assert.equal(s.version, '2');
  assert.equal(s.features['features']?.length, 30);
  const plain = await e.models.load({ source: pathToFileURL(modelDir('url-plain', 'url-model.onnx')).href });
  assert.equal(plain.name, 'url-model');
  await rejectsCode('MODEL_FILE_NOT_FOUND', () => e.models.load({ source: pathToFileURL(join(tmp, 'nope.onnx')) }));
}));

test('a missing file or a directory is MODEL_FILE_NOT_FOUND; a host without file access says so', T, () => withEngine(async (e) => {
  const err = await rejectsCode('MODEL_FILE_NOT_FOUND', () => e.models.load({ source: join(tmp, 'missing.onnx') }));
  assert.equal(err.details?.['path'], join(tmp, 'missing.onnx'));
  mkdirSync(join(tmp, 'dir.onnx'), { recursive: true });
  await rejectsCode('MODEL_FILE_NOT_FOUND', () => e.models.load({ source: join(tmp, 'dir.onnx') }));
  const noFs = new ModelRegistry({ backends: new BackendRegistry([]) });
  const nf = await rejectsCode('MODEL_FILE_NOT_FOUND', () => noFs.load({ source: MODEL }));
  assert.match(nf.message, /no file access/);
}));

/** A loopback HTTP server: `/models/bc.onnx` gives the model bytes, everything else 404. */
async function serveModel(): Promise<{ server: Server; base: string; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    if (req.url === '/models/bc.onnx') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BYTES.byteLength });
      res.end(BYTES);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits };
}

test('loading over HTTP; a 404 and a refused connection are MODEL_FILE_NOT_FOUND', T, async () => {
  const { server, base, hits } = await serveModel();
  try {
    await withEngine(async (e) => {
      const m = await e.models.load({ source: `${base}/models/bc.onnx`, name: 'remote', config: JSON.parse(readFileSync(SIDECAR, 'utf8')) });
      assert.equal(m.name, 'remote');
      assert.equal(m.metadata.sizeBytes, BYTES.byteLength);
      const res = await m.predict(golden.records.slice(0, 8));
      res.forEach((r, i) => close(r.outputs['logit'], golden.outputs.logit.data[i]!));
      const viaUrl = await e.models.load({ source: new URL('/models/bc.onnx', base), name: 'remote', version: '2' });
      assert.equal(viaUrl.version, '2');
      const nf = await rejectsCode('MODEL_FILE_NOT_FOUND', () => e.models.load({ source: `${base}/models/missing.onnx` }));
      assert.equal(nf.details?.['status'], 404);
      assert.match(nf.message, /HTTP 404/);
      assert.deepEqual(hits, ['/models/bc.onnx', '/models/bc.onnx', '/models/missing.onnx']);
    });
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  await withEngine(async (e) => {
    await rejectsCode('MODEL_FILE_NOT_FOUND', () => e.models.load({ source: `${base}/models/bc.onnx` }));
  });
});

test('a model loaded from an HTTP URL is named after the URL\'s file name',
  T,
  async () => {
    const { server, base } = await serveModel();
    try {
      await withEngine(async (e) => {
        const m = await e.models.load({ source: `${base}/models/bc.onnx` });
        assert.equal(m.name, 'bc');
      });
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

test('list, default version, unload of one version and of all', T, () => withEngine(async (e) => {
  const one = await e.models.load({ source: BYTES, name: 'bc', version: '1' });
  await e.models.load({ source: BYTES, name: 'bc', version: '2' });
  await e.models.load({ source: BYTES, name: 'bc', version: '3' });
  await e.models.load({ source: MODEL });
  assert.deepEqual(e.models.list(), [
    { name: 'bc', versions: ['1', '2', '3'], default: '3' },
    { name: 'breast-cancer', versions: ['1'], default: '1' },
  ]);

  await e.models.unload('bc', '1');
  assert.equal(e.models.has('bc', '1'), false);
  assert.ok(e.models.has('bc', '2'));
  await rejectsCode('MODEL_NOT_FOUND', async () => e.models.get('bc', '1'));
  await rejectsCode('MODEL_NOT_FOUND', () => one.predict([directRow(0)]));
  await rejectsCode('MODEL_NOT_FOUND', () => e.models.unload('bc', '1'));

  await e.models.unload('bc', '3');
  assert.equal(e.models.get('bc').version, '2', 'default falls back to a remaining version');
  assert.deepEqual(e.models.list()[0], { name: 'bc', versions: ['2'], default: '2' });

  await e.models.load({ source: BYTES, name: 'bc', version: '4', default: true });
  await e.models.load({ source: BYTES, name: 'bc', version: '5' });
  assert.equal(e.models.get('bc').version, '4', 'default: true pins the version');
  await e.models.unload('bc', '4');
  assert.equal(e.models.get('bc').version, '5', 'unloading the pinned version unpins');

  const two = e.models.get('bc', '2');
  await e.models.unload('bc');
  assert.equal(e.models.has('bc'), false);
  await rejectsCode('MODEL_NOT_FOUND', () => two.predict([directRow(0)]));
  assert.deepEqual(e.models.list(), [{ name: 'breast-cancer', versions: ['1'], default: '1' }]);
  await rejectsCode('MODEL_NOT_FOUND', () => e.models.unload('bc'));
  const nf = await rejectsCode('MODEL_NOT_FOUND', async () => e.models.get('bc'));
  assert.match(nf.message, /loaded: breast-cancer/);
  await e.models.close();
  assert.deepEqual(e.models.list(), []);
}));

test('onLoad hooks get each new version and its bytes before it takes traffic; a failing hook fails the load and keeps the old one', T, () => withEngine(async (e) => {
  const seen: string[] = [];
  let refuse = false;
  e.models.onLoad(async (m, bytes) => {
    seen.push(`${m.name}@${m.version}:${bytes.byteLength}`);
    assert.equal(e.models.has(m.name, m.version) && e.models.get(m.name, m.version) === m, false, 'not serving yet');
    if (refuse) throw new Error('the pool refused it');
  });
  const v1 = await e.models.load({ source: BYTES, name: 'bc', version: '1' });
  assert.deepEqual(seen, [`bc@1:${BYTES.byteLength}`]);
  refuse = true;
  await assert.rejects(e.models.load({ source: BYTES, name: 'bc', version: '1' }), /the pool refused it/);
  await assert.rejects(e.models.load({ source: BYTES, name: 'bc', version: '2' }), /the pool refused it/);
  assert.equal(e.models.get('bc'), v1, 'version 1 still serves');
  assert.equal(e.models.has('bc', '2'), false);
  close((await v1.predict([directRow(3)]))[0]!.outputs['logit'], golden.outputs.logit.data[3]!);
}));

test('runElsewhere frees the session but keeps the version loaded: metadata answers, a run here is INTERNAL, release still works', T, () => withEngine(async (e) => {
  const m = await e.models.load({ source: MODEL, name: 'bc', version: '1' });
  const meta = m.metadata;
  await m.runElsewhere('a test pool');
  assert.equal(m.elsewhere, 'a test pool');
  assert.deepEqual(m.metadata, { ...meta, runsIn: 'a test pool' });
  assert.equal(e.models.get('bc'), m);
  const err = await rejectsCode('INTERNAL', () => m.predict([directRow(0)]));
  assert.match(err.message, /runs in a test pool/);
  await rejectsCode('INTERNAL', () => m.infer({ features: { dtype: 'float32', data: new Float32Array(golden.inputs.features.data.slice(0, 30)), dims: [1, 30] } }));
  await e.models.unload('bc');
  assert.equal(e.models.has('bc'), false);
}));

test('runElsewhere and release called together during a run both wait for it, and both resolve', T, () => withEngine(async (e) => {
  const m = await e.models.load({ source: join(FIXTURES, 'models', 'slow-matmul.onnx'), name: 'slow' });
  const running = m.infer({ x: { dtype: 'float32', data: new Float32Array(64 * 2048).fill(1), dims: [64, 2048] } });
  const both = Promise.all([m.runElsewhere('a test pool'), m.release()]);
  const out = await running;
  close((out['mean']!.data as Float32Array)[0], 1);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('a waiter was never woken')), 10_000); });
  try {
    await Promise.race([both, hung]);
  } finally {
    clearTimeout(timer);
  }
}));

test('a sidecar that is not JSON, or not a valid config, is INVALID_CONFIG', T, () => withEngine(async (e) => {
  const bad = modelDir('bad-json', 'bc.onnx', '{"inputs": {"features": ');
  const err = await rejectsCode('INVALID_CONFIG', () => e.models.load({ source: bad }));
  assert.match(err.message, /bc\.config\.json: not valid JSON/);
  assert.equal(err.details?.['path'], join(tmp, 'bad-json', 'bc.config.json'));
  const invalid = modelDir('bad-schema', 'bc.onnx', JSON.stringify({ maxBatchSize: 0, outputs: { logit: { postprocess: 'relu' } } }));
  const err2 = await rejectsCode('INVALID_CONFIG', () => e.models.load({ source: invalid }));
  assert.match(err2.message, /maxBatchSize/);
  assert.match(err2.message, /outputs\.logit\.postprocess/);
  const wrongInput = modelDir('bad-input', 'bc.onnx', JSON.stringify({ inputs: { nope: { features: ['a'] } } }));
  await rejectsCode('INVALID_CONFIG', () => e.models.load({ source: wrongInput }));
  assert.deepEqual(e.models.list(), [], 'nothing half-loaded');
}));

test('load-time warm-up: one run on zeros before traffic by default, N on request, none with 0; reported in metadata', T, () => withEngine(async (e) => {
  const path = modelDir('warm', 'warm.onnx');
  const m = await e.models.load({ source: path });
  const w = m.metadata.warmup as { runs: number; firstMs: number; lastMs: number };
  assert.equal(w.runs, 1);
  assert.ok(w.firstMs > 0 && w.firstMs === w.lastMs, JSON.stringify(w));
  const three = await e.models.load({ source: path, name: 'warm3', config: { warmup: 3 } });
  const w3 = three.metadata.warmup as { runs: number; firstMs: number; lastMs: number };
  assert.equal(w3.runs, 3);
  assert.ok(w3.lastMs > 0, JSON.stringify(w3));
  const off = await e.models.load({ source: path, name: 'cold', config: { warmup: 0 } });
  assert.deepEqual(off.metadata.warmup, { skipped: 'warmup is 0' });
  await rejectsCode('INVALID_CONFIG', () => e.models.load({ source: path, name: 'bad', config: { warmup: -1 } }));
  // Warmed or not, answers are the same.
  const [a] = await m.predict([directRow(5)]);
  const [b] = await off.predict([directRow(5)]);
  assert.equal(a!.outputs['logit'], b!.outputs['logit']);
}));
