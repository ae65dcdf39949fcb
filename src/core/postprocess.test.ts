// Output tensors → per-row results: sigmoid/softmax/argmax, labels, primary output, row split.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ModelConfig, OutputConfig } from './model-config.ts';
import { planOutputs, toResults } from './postprocess.ts';
import type { TensorData, TensorSpec } from './tensor.ts';

type Out = Partial<OutputConfig> & Pick<OutputConfig, 'postprocess'>;
const config = (outputs: Record<string, Out> = {}): ModelConfig => ({
  inputs: {},
  maxBatchSize: 1024,
  warmup: 1,
  outputs: Object.fromEntries(Object.entries(outputs).map(([k, o]) => [k, { threshold: 0.5, ...o }])),
});
const spec = (name: string, ...inner: number[]): TensorSpec => ({ name, dtype: 'float32', shape: ['batch', ...inner] });
const f32 = (dims: number[], values: number[]): TensorData => ({ dtype: 'float32', data: Float32Array.from(values), dims });

test('sigmoid gives probability and prediction by threshold; exactly at the threshold is 1', () => {
  const plan = planOutputs([spec('logit', 1)], config({ logit: { postprocess: 'sigmoid', labels: ['neg', 'pos'] } }));
  const res = toResults(plan, { logit: f32([3, 1], [0, -0.01, 3]) }, 3);
  assert.equal(res.length, 3);
  assert.equal(res[0]!.probability, 0.5);
  assert.equal(res[0]!.prediction, 1, 'p == threshold → 1');
  assert.equal(res[0]!.label, 'pos');
  assert.ok(res[1]!.probability! < 0.5);
  assert.equal(res[1]!.prediction, 0);
  assert.equal(res[1]!.label, 'neg');
  assert.ok(Math.abs(res[2]!.probability! - 1 / (1 + Math.exp(-3))) < 1e-7);
  assert.equal(res[2]!.outputs['logit'], 3, 'the raw output is kept as a number');
  assert.equal(res[2]!.probabilities, undefined);
});

test('sigmoid honours a custom threshold', () => {
  const plan = planOutputs([spec('logit', 1)], config({ logit: { postprocess: 'sigmoid', threshold: 0.9 } }));
  const [a, b] = toResults(plan, { logit: f32([2, 1], [2, 3]) }, 2);
  assert.equal(a!.prediction, 0, 'sigmoid(2) ≈ 0.88 < 0.9');
  assert.equal(b!.prediction, 1, 'sigmoid(3) ≈ 0.95 ≥ 0.9');
  assert.equal(a!.label, undefined, 'no labels configured');
});

test('sigmoid over several values per row is multi-label: one probability each, prediction = argmax', () => {
  const plan = planOutputs([spec('y', 3)], config({ y: { postprocess: 'sigmoid' } }));
  const [r] = toResults(plan, { y: f32([1, 3], [-1, 2, 0]) }, 1);
  assert.equal(r!.probabilities!.length, 3);
  assert.equal(r!.prediction, 1);
  assert.ok(Math.abs(r!.probability! - 1 / (1 + Math.exp(-2))) < 1e-7);
});

test('softmax gives probabilities that sum to 1, argmax prediction, its probability and label', () => {
  const plan = planOutputs([spec('logits', 3)], config({ logits: { postprocess: 'softmax', labels: ['a', 'b', 'c'] } }));
  const res = toResults(plan, { logits: f32([2, 3], [1, 2, 3, 5, 1, 0]) }, 2);
  for (const r of res) {
    const sum = r.probabilities!.reduce((s, p) => s + p, 0);
    assert.ok(Math.abs(sum - 1) < 1e-12, `sum ${sum}`);
    assert.equal(r.probability, Math.max(...r.probabilities!));
  }
  assert.equal(res[0]!.prediction, 2);
  assert.equal(res[0]!.label, 'c');
  assert.equal(res[1]!.prediction, 0);
  assert.equal(res[1]!.label, 'a');
  const e = [Math.exp(1), Math.exp(2), Math.exp(3)];
  const z = e[0]! + e[1]! + e[2]!;
  res[0]!.probabilities!.forEach((p, i) => assert.ok(Math.abs(p - e[i]! / z) < 1e-12));
  assert.deepEqual(res[0]!.outputs['logits'], [1, 2, 3]);
});

test('softmax is numerically stable on large logits', () => {
  const plan = planOutputs([spec('logits', 2)], config({ logits: { postprocess: 'softmax' } }));
  const [r] = toResults(plan, { logits: f32([1, 2], [1000, 1001]) }, 1);
  const [p0, p1] = r!.probabilities!;
  assert.ok(Number.isFinite(p0) && Number.isFinite(p1), `got ${p0}, ${p1}`);
  assert.ok(Math.abs(p0! - 1 / (1 + Math.E)) < 1e-12);
  assert.ok(Math.abs(p1! - Math.E / (1 + Math.E)) < 1e-12);
  assert.equal(r!.prediction, 1);
  const [n] = toResults(plan, { logits: f32([1, 2], [-1000, -1001]) }, 1);
  assert.ok(Math.abs(n!.probabilities![0]! - Math.E / (1 + Math.E)) < 1e-12);
});

test('argmax gives a prediction (and label) without probabilities', () => {
  const plan = planOutputs([spec('scores', 4)], config({ scores: { postprocess: 'argmax', labels: ['w', 'x', 'y', 'z'] } }));
  const [r] = toResults(plan, { scores: f32([1, 4], [0.1, 0.2, 9, 0.3]) }, 1);
  assert.equal(r!.prediction, 2);
  assert.equal(r!.label, 'y');
  assert.equal(r!.probability, undefined);
  assert.equal(r!.probabilities, undefined);
});

test('no config (or postprocess none) gives raw outputs only', () => {
  const plan = planOutputs([spec('logit', 1)], config());
  assert.equal(plan.primary, undefined);
  const [r] = toResults(plan, { logit: f32([1, 1], [2]) }, 1);
  assert.deepEqual(r, { outputs: { logit: 2 } });
  const none = planOutputs([spec('logit', 1)], config({ logit: { postprocess: 'none' } }));
  assert.equal(none.primary, undefined);
});

test('primary: the output marked primary wins, else the first post-processed one', () => {
  const specs = [spec('embedding', 2), spec('a', 1), spec('b', 3)];
  const first = planOutputs(specs, config({ embedding: { postprocess: 'none' }, a: { postprocess: 'sigmoid' }, b: { postprocess: 'softmax' } }));
  assert.equal(first.primary?.name, 'a');
  const marked = planOutputs(specs, config({ a: { postprocess: 'sigmoid' }, b: { postprocess: 'softmax', primary: true } }));
  assert.equal(marked.primary?.name, 'b');
  const out = { embedding: f32([1, 2], [0.5, 0.25]), a: f32([1, 1], [0]), b: f32([1, 3], [0, 0, 4]) };
  const [r] = toResults(marked, out, 1);
  assert.equal(r!.prediction, 2, 'prediction comes from b, not a');
  assert.equal(r!.probabilities!.length, 3);
  const [r2] = toResults(first, out, 1);
  assert.equal(r2!.prediction, 1);
  assert.equal(r2!.probability, 0.5);
});

test('multi-output rows: per-row size 1 is a number, bigger sizes are arrays; padding rows are dropped', () => {
  const specs: TensorSpec[] = [spec('logits', 3), spec('embedding', 2), { name: 'score', dtype: 'float32', shape: ['batch'] },
    { name: 'cls', dtype: 'int64', shape: ['batch', 1] }];
  const plan = planOutputs(specs, config({ logits: { postprocess: 'softmax' } }));
  const out: Record<string, TensorData> = {
    logits: f32([3, 3], [1, 0, 0, 0, 1, 0, 9, 9, 9]),
    embedding: f32([3, 2], [1, 2, 3, 4, 5, 6]),
    score: f32([3], [0.25, 0.5, 0.75]),
    cls: { dtype: 'int64', data: BigInt64Array.from([7n, 8n, 9n]), dims: [3, 1] },
  };
  const res = toResults(plan, out, 2);
  assert.equal(res.length, 2);
  assert.deepEqual(res[0]!.outputs, { logits: [1, 0, 0], embedding: [1, 2], score: 0.25, cls: 7 });
  assert.deepEqual(res[1]!.outputs, { logits: [0, 1, 0], embedding: [3, 4], score: 0.5, cls: 8 });
  assert.equal(res[0]!.prediction, 0);
  assert.equal(res[1]!.prediction, 1);
});

test('an output the run did not return is skipped', () => {
  const plan = planOutputs([spec('logit', 1), spec('extra', 2)], config({ logit: { postprocess: 'sigmoid' } }));
  const [r] = toResults(plan, { logit: f32([1, 1], [0]) }, 1);
  assert.deepEqual(Object.keys(r!.outputs), ['logit']);
  assert.equal(r!.prediction, 1);
});

test('probabilities: an output that already holds them (a classifier\'s), beside a text label output', () => {
  const specs = [{ name: 'label', dtype: 'string' as const, shape: [-1] }, spec('probs', 3)];
  const plan = planOutputs(specs, config({ probs: { postprocess: 'probabilities', labels: ['setosa', 'versicolor', 'virginica'] } }));
  const out = { label: { dtype: 'string' as const, data: ['virginica', 'setosa'], dims: [2] }, probs: f32([2, 3], [0.1, 0.2, 0.7, 0.8, 0.15, 0.05]) };
  const [a, b] = toResults(plan, out, 2);
  assert.equal(a!.prediction, 2);
  assert.ok(Math.abs(a!.probability! - 0.7) < 1e-6, 'no softmax: the value itself');
  assert.equal(a!.label, 'virginica');
  assert.equal(a!.outputs['label'], 'virginica', 'the text label output, as a string');
  assert.deepEqual(b!.outputs['label'], 'setosa');
  assert.equal(b!.prediction, 0);
  assert.equal(b!.probabilities!.length, 3);
  // One column: P(positive), thresholded.
  const one = planOutputs([spec('p', 1)], config({ p: { postprocess: 'probabilities', threshold: 0.3 } }));
  const [lo, hi] = toResults(one, { p: f32([2, 1], [0.2, 0.4]) }, 2);
  assert.deepEqual([lo!.prediction, hi!.prediction], [0, 1]);
  assert.ok(Math.abs(hi!.probability! - 0.4) < 1e-6);
  // Post-processing a string output is refused when the plan is made.
  assert.throws(() => planOutputs(specs, config({ label: { postprocess: 'argmax' } })), /needs numbers; "label" is a string output/);
});
