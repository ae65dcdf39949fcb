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
