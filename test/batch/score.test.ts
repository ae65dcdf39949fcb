// Column-wise post-processing gives exactly what Model.results gives, row by row, for
// every post-processing the model config knows (no per-row objects on the batch path).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planOutputs, toResults } from '../../src/core/postprocess.ts';
import { parseModelConfig } from '../../src/core/model-config.ts';
import type { TensorData } from '../../src/core/tensor.ts';
import { postColumns } from '../../src/batch/score.ts';

test('postColumns matches toResults for sigmoid (1 and k values), softmax, argmax, none', () => {
  const n = 257;
  const rand = (() => { let s = 7; return () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 12 - 6; })();
  const tensor = (per: number): TensorData => ({ dtype: 'float32', data: Float32Array.from({ length: n * per }, rand), dims: per === 1 ? [n, 1] : [n, per] });
  const cases: [string, number, Record<string, unknown>][] = [
    ['sigmoid', 1, { postprocess: 'sigmoid', threshold: 0.3 }], ['sigmoid', 4, { postprocess: 'sigmoid' }],
    ['softmax', 5, { postprocess: 'softmax' }], ['argmax', 3, { postprocess: 'argmax' }], ['none', 2, { postprocess: 'none' }], ['absent', 1, {}],
    ['probabilities', 4, { postprocess: 'probabilities' }], ['probabilities', 1, { postprocess: 'probabilities', threshold: 0.7 }],
  ];
  for (const [name, per, oc] of cases) {
    const specs = [{ name: 'aux', dtype: 'float32' as const, shape: [-1, 2] }, { name: 'y', dtype: 'float32' as const, shape: [-1, per] }];
    const config = parseModelConfig(name === 'absent' ? {} : { outputs: { y: oc } });
    const plan = planOutputs(specs, config);
    const out = { y: tensor(per), aux: tensor(2) };
    const want = toResults(plan, out, n);
    const prediction = new Float64Array(n + 3);
    const probability = new Float64Array(n + 3);
    const has = postColumns(plan, out, n, prediction, probability, 3);
    assert.equal(has, want[0]!.probability !== undefined, `${name}: hasProbability`);
    for (let r = 0; r < n; r++) {
      const w = want[r]!;
      const first = Object.values(w.outputs)[0]!;
      assert.equal(prediction[3 + r], w.prediction ?? (typeof first === 'number' ? first : first[0]), `${name} row ${r} prediction`);
      assert.ok(Object.is(probability[3 + r], w.probability ?? NaN), `${name} row ${r} probability`);
    }
  }
});

test('scoreColumns fills the tensor right (four columns at a time plus the rest, several calls) and names a bad value\'s row and column', async () => {
  const { createEngine } = await import('../../src/index.ts');
  const { createNativeRuntime } = await import('../../runtimes/native/runtime.ts');
  const { featureInput, scoreColumns } = await import('../../src/batch/score.ts');
  const { MODEL, MODEL_CONFIG, FEATURES, RECORDS } = await import('./fixtures.ts');
  const engine = createEngine(createNativeRuntime());
  try {
    const model = await engine.models.load({ source: MODEL, config: MODEL_CONFIG, backend: 'cpu' });
    const fi = featureInput(model);
    assert.equal(fi.features.length % 4, 2, 'the fixture exercises the remainder loop');
    const n = RECORDS.length;
    const cols = fi.features.map((f, j) => (j % 2 ? Float64Array.from(RECORDS, (r) => r[f]!) : Float32Array.from(RECORDS, (r) => r[f]!)));
    // 569 rows in calls of 200 and blocks of 512: partial blocks and calls.
    const s = await scoreColumns(model, fi, cols, n, 200, 1000);
    const want = await model.predict(RECORDS.map((r) => Object.fromEntries(FEATURES.map((f, j) => [f, j % 2 ? r[f]! : Math.fround(r[f]!)]))));
    for (let i = 0; i < n; i++) {
      assert.equal(s.prediction[i], want[i]!.prediction, `row ${i}`);
      assert.equal(s.probability[i], want[i]!.probability, `row ${i}`);
    }
    // Columns 0-23 go eight at a time, 24-27 four, 28-29 two: a bad value in each kind of group.
    for (const [j, row, bad] of [[5, 333, NaN], [29, 568, Infinity], [28, 0, -Infinity], [0, 201, NaN], [25, 100, NaN], [23, 567, Infinity]] as const) {
      const c = cols.map((x) => x.slice());
      c[j]![row] = bad;
      await assert.rejects(scoreColumns(model, fi, c, n, 200, 1000), (e: Error & { code?: string }) =>
        e.code === 'INVALID_FEATURE_VALUE' && e.message === `row ${1000 + row}: column "${fi.features[j]}" is ${bad}; features must be finite numbers`);
    }
  } finally {
    await engine.close();
  }
});

test('a float16 model is scored from the columns: values rounded once to half precision, as predict does; past ±65504 names row and column', async () => {
  const { createEngine, toHalf, fromHalf } = await import('../../src/index.ts');
  const { createNativeRuntime } = await import('../../runtimes/native/runtime.ts');
  const { featureInput, scoreColumns } = await import('../../src/batch/score.ts');
  const { FEATURES, RECORDS, ROOT } = await import('./fixtures.ts');
  const { join } = await import('node:path');
  const engine = createEngine(createNativeRuntime());
  try {
    const model = await engine.models.load({ source: join(ROOT, 'test/fixtures/models/breast-cancer-fp16.onnx'), backend: 'cpu' });
    const fi = featureInput(model);
    assert.equal(fi.inputs[0]!.dtype, 'float16');
    const n = RECORDS.length;
    const cols = fi.features.map((f) => Float64Array.from(RECORDS, (r) => r[f]!));
    const s = await scoreColumns(model, fi, cols, n, 200, 1000);
    const want = await model.predict(RECORDS);
    for (let i = 0; i < n; i++) {
      assert.equal(s.prediction[i], want[i]!.prediction, `row ${i}`);
      assert.equal(s.probability[i], want[i]!.probability, `row ${i}`);
    }
    // The logit is a float16: the probability is the sigmoid of a half-precision value.
    const logit = Math.log(s.probability[3]! / (1 - s.probability[3]!));
    assert.ok(Math.abs(fromHalf(toHalf(logit)) - logit) < 1e-6 * Math.max(1, Math.abs(logit)), `logit ${logit} is a float16 value`);
    const c = cols.map((x) => x.slice());
    c[FEATURES.indexOf('worst_area')]![250] = 70_000;
    await assert.rejects(scoreColumns(model, fi, c, n, 200, 1000), (e: Error & { code?: string }) =>
      e.code === 'INVALID_FEATURE_VALUE' && e.message === 'row 1250: column "worst_area" is 70000; float16 holds ±65504');
  } finally {
    await engine.close();
  }
});

test('batch scoring refuses a model whose prediction would be a string output, naming it', async () => {
  const { featureInput } = await import('../../src/batch/score.ts');
  const { parseModelConfig: parse } = await import('../../src/core/model-config.ts');
  const { isOmniserveError } = await import('../../src/errors.ts');
  const model = (outputs: Record<string, unknown>) => ({
    name: 'clf',
    features: { x: ['a', 'b'] },
    metadata: { inputs: [{ name: 'x', dtype: 'float32', shape: [null, 2] }], outputs: [{ name: 'label', dtype: 'string', shape: [null] }, { name: 'p', dtype: 'float32', shape: [null, 3] }] },
    config: parse({ inputs: { x: { features: ['a', 'b'] } }, outputs }),
  }) as unknown as Parameters<typeof featureInput>[0];
  assert.throws(() => featureInput(model({})), (e: unknown) => isOmniserveError(e, 'INVALID_CONFIG') && /string output "label"/.test((e as Error).message));
  // With a numeric output post-processed, the prediction comes from it: accepted.
  assert.equal(featureInput(model({ p: { postprocess: 'softmax' } })).inputs[0]!.input, 'x');
});
