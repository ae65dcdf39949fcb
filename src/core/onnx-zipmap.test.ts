/**
 * findZipMaps / exposeZipMapInputs on real exported graphs (scripts/make-dtype-fixtures.py):
 * the ZipMap is found with its labels, the exposed model loads in onnxruntime with the
 * probabilities as a tensor output, and bytes that are not a readable model are left alone.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import ort from 'onnxruntime-node';
import { exposeZipMapInputs, findZipMaps } from './onnx-zipmap.ts';

const read = (name: string) => new Uint8Array(readFileSync(new URL(`../../test/fixtures/models/${name}.onnx`, import.meta.url)));

test('a ZipMap is found with its input tensor and labels, integer or text', () => {
  assert.deepEqual(findZipMaps(read('iris-zipmap')), [{ output: 'output_probability', tensor: 'probability_tensor', labels: [0, 1, 2] }]);
  assert.deepEqual(findZipMaps(read('iris-zipmap-strings')), [{ output: 'output_probability', tensor: 'probability_tensor', labels: ['setosa', 'versicolor', 'virginica'] }]);
  assert.deepEqual(findZipMaps(read('breast-cancer')), []);
  assert.deepEqual(findZipMaps(read('wine-categorical')), [], 'ai.onnx.ml operators, no ZipMap');
});

test('the exposed model loads with the probabilities as a float tensor output and answers them', async () => {
  const bytes = read('iris-zipmap');
  const exposed = exposeZipMapInputs(bytes, ['probability_tensor']);
  assert.equal(exposed.byteLength > bytes.byteLength, true);
  assert.deepEqual(findZipMaps(exposed), [], 'its input is a graph output now: nothing left to expose');
  const s = await ort.InferenceSession.create(exposed);
  try {
    assert.deepEqual(s.outputNames, ['output_label', 'output_probability', 'probability_tensor']);
    const x = new ort.Tensor('float32', new Float32Array([5.1, 3.5, 1.4, 0.2]), [1, 4]);
    const out = await s.run({ float_input: x }, ['output_label', 'probability_tensor']);
    const p = Array.from(out['probability_tensor']!.data as Float32Array);
    assert.equal(p.length, 3);
    assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-5 && p[0]! > 0.9, `probabilities ${p}`);
    assert.equal(Number((out['output_label']!.data as BigInt64Array)[0]), 0);
  } finally {
    await s.release();
  }
});

test('bytes that are not a readable model: no ZipMaps, returned unchanged, never a throw', () => {
  const bytes = read('iris-zipmap');
  for (const bad of [new Uint8Array(0), new Uint8Array([0xff, 0xff, 0xff]), bytes.subarray(0, bytes.byteLength - 7), new TextEncoder().encode('not onnx at all')]) {
    assert.deepEqual(findZipMaps(bad), []);
    assert.equal(exposeZipMapInputs(bad, ['probability_tensor']), bad);
  }
  assert.equal(exposeZipMapInputs(bytes, []), bytes, 'nothing to add: the same bytes');
});
