// The /demo files on the host: the bundled digits model is the test fixture, the mount
// serves the page, the bundle, onnxruntime-web's assets and the model (with Repr-Digest),
// and nothing else; `withDemoModel` adds the digits model once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDemoMount, withDemoModel, DEMO_MODEL } from './demo-mount.ts';
import { BROWSER_ENTRIES, ROOT } from './build.ts';

test('models/digits.* are the test fixture files (the demo and the tests run the same model)', () => {
  for (const f of ['digits.onnx', 'digits.config.json']) {
    assert.deepEqual(readFileSync(join(ROOT, 'models', f)), readFileSync(join(ROOT, 'test/fixtures/models', f)), f);
  }
  const golden = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/goldens/digits.json'), 'utf8')) as { records: { image: number[] }[]; labels: number[] };
  const samples = readFileSync(join(ROOT, 'models/digits.sample.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { image: number[]; label: number });
  assert.deepEqual(samples.map((s) => s.image), golden.records.map((r) => r.image));
  assert.deepEqual(samples.map((s) => s.label), golden.labels);
});

test('withDemoModel adds the digits model unless one is served', () => {
  const cfg = { models: [{ path: 'a.onnx' }] };
  assert.deepEqual(withDemoModel(cfg).models, [{ path: 'a.onnx' }, { path: DEMO_MODEL }]);
  assert.equal(withDemoModel({ models: [{ path: '/x/digits.onnx' }] }).models.length, 1);
  assert.equal(withDemoModel({ models: [{ name: 'digits', path: '/x/other.onnx' }] }).models.length, 1);
});

test('the mount serves the page, bundle, assets and model; 404 otherwise', { timeout: 30_000 }, async () => {
  const files = Object.keys(BROWSER_ENTRIES).map((n) => ({ path: `${n}.js`, bytes: new TextEncoder().encode(`// ${n}`) }));
  const mount = await createDemoMount({ files });
  const page = (await mount.get(''))!;
  assert.match(page.headers.get('content-type')!, /text\/html/);
  assert.equal(page.headers.get('cross-origin-opener-policy'), 'same-origin');
  assert.match(await page.text(), /lib\/demo\.js/);
  assert.equal(await (await mount.get('lib/inference.worker.js'))!.text(), '// inference.worker');
  const wasm = (await mount.get('lib/ort/ort-wasm-simd-threaded.mjs'))!;
  assert.match(wasm.headers.get('content-type')!, /javascript/);
  const model = (await mount.get('models/digits.onnx'))!;
  const bytes = new Uint8Array(await model.arrayBuffer());
  assert.equal(model.headers.get('repr-digest'), `sha-256=:${createHash('sha256').update(bytes).digest('base64')}:`);
  for (const p of ['lib/x.js', 'lib/ort/ort.min.mjs', 'lib/ort/../../../package.json', 'models/breast-cancer.onnx', '../package.json']) {
    assert.equal(await mount.get(p), undefined, p);
  }
  const open = await createDemoMount({ files, isolated: false });
  assert.equal((await open.get(''))!.headers.get('cross-origin-opener-policy'), null);
});
