// Records → input tensors: planInputs/fillInput with hand-written TensorSpecs and configs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isOmniserveError, type ErrorCode } from '../errors.ts';
import { featureValue, fillInput, LayeredRecord, packRows, planInputs, plainRecord, type FeatureRecord, type FeatureRow, type InputPlan } from './features.ts';
import type { InputConfig, ModelConfig } from './model-config.ts';
import type { TensorSpec } from './tensor.ts';

const config = (inputs: Record<string, InputConfig> = {}): ModelConfig => ({ inputs, outputs: {}, maxBatchSize: 1024, warmup: 1 });
const X3: TensorSpec = { name: 'x', dtype: 'float32', shape: ['batch', 3] };

/** The plan of the single input `spec` under `cfg`. */
function plan(spec: TensorSpec, cfg?: InputConfig): InputPlan {
  const plans = planInputs([spec], config(cfg ? { [spec.name]: cfg } : {}));
  assert.equal(plans.length, 1);
  return plans[0]!;
}

const fill = (p: InputPlan, records: readonly FeatureRow[]) => fillInput(p, records, 0, records.length);

/** Asserts `fn` throws an OmniserveError with `code` and returns it. */
function throwsCode(code: ErrorCode, fn: () => unknown) {
  try {
    fn();
  } catch (e) {
    assert.ok(isOmniserveError(e), `expected OmniserveError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected ${code}, but the call succeeded`);
}

test('features mode fills each row in the configured feature order, whatever the key order', () => {
  const p = plan(X3, { features: ['a', 'b', 'c'] });
  assert.deepEqual(p.rowShape, [3]);
  const t = fill(p, [{ c: 3, a: 1, b: 2 }, { b: 5, c: 6, a: 4, extra: 'ignored' }]);
  assert.equal(t.dtype, 'float32');
  assert.ok(t.data instanceof Float32Array);
  assert.deepEqual(t.dims, [2, 3]);
  assert.deepEqual([...t.data], [1, 2, 3, 4, 5, 6]);
});

test('features mode works with a dynamic feature dim too', () => {
  const p = plan({ name: 'x', dtype: 'float32', shape: ['batch', 'n'] }, { features: ['a', 'b'] });
  assert.deepEqual([...fill(p, [{ a: 1, b: 2 }]).data], [1, 2]);
});

test('defaults: per-feature defaults win over the input-wide default; null counts as missing', () => {
  const p = plan(X3, { features: ['a', 'b', 'c'], default: -1, defaults: { b: 7 } });
  assert.deepEqual([...fill(p, [{ a: 1 }, { a: 2, b: null, c: 0 }]).data], [1, 7, -1, 2, 7, 0]);
  const flags = plan(X3, { features: ['a', 'b', 'c'], default: true, defaults: { c: false } });
  assert.deepEqual([...fill(flags, [{}]).data], [1, 1, 0], 'boolean defaults become 1/0');
});

test('a missing feature without default is MISSING_FEATURE naming row and feature', () => {
  const p = plan(X3, { features: ['a', 'b', 'c'] });
  const e = throwsCode('MISSING_FEATURE', () => fill(p, [{ a: 1, b: 2, c: 3 }, { a: 1, c: 3 }]));
  assert.equal(e.details?.['row'], 1);
  assert.equal(e.details?.['feature'], 'b');
  assert.equal(e.details?.['input'], 'x');
  assert.match(e.message, /row 1/);
  assert.match(e.message, /"b"/);
  const nul = throwsCode('MISSING_FEATURE', () => fill(p, [{ a: 1, b: 2, c: null }]));
  assert.equal(nul.details?.['feature'], 'c');
});

test('row numbers in errors are positions in the whole request, not the slice', () => {
  const p = plan(X3, { features: ['a', 'b', 'c'] });
  const recs = [{ a: 1, b: 1, c: 1 }, { a: 1, b: 1, c: 1 }, { a: 1, b: 1 }];
  const e = throwsCode('MISSING_FEATURE', () => fillInput(p, recs, 2, 3));
  assert.equal(e.details?.['row'], 2);
});

test('numeric strings and booleans are coerced', () => {
  const p = plan(X3, { features: ['a', 'b', 'c'] });
  assert.deepEqual([...fill(p, [{ a: '1.5', b: true, c: false }, { a: ' -2 ', b: '1e2', c: 0 }]).data], [1.5, 1, 0, -2, 100, 0]);
});

test('non-numeric strings, objects and arrays are INVALID_FEATURE_TYPE', () => {
  const p = plan(X3, { features: ['a', 'b', 'c'] });
  for (const bad of ['abc', '', '   ', { v: 1 }, [1]]) {
    const e = throwsCode('INVALID_FEATURE_TYPE', () => fill(p, [{ a: 1, b: bad, c: 3 }]));
    assert.equal(e.details?.['feature'], 'b', `value ${JSON.stringify(bad)}`);
    assert.equal(e.details?.['row'], 0);
  }
});

test('NaN and ±Infinity are INVALID_FEATURE_VALUE unless allowNonFinite', () => {
  const p = plan(X3, { features: ['a', 'b', 'c'] });
  for (const bad of [Number.NaN, Infinity, -Infinity, 'Infinity', 'NaN']) {
    const e = throwsCode('INVALID_FEATURE_VALUE', () => fill(p, [{ a: 1, b: 2, c: bad }]));
    assert.equal(e.details?.['feature'], 'c');
  }
  const lax = plan(X3, { features: ['a', 'b', 'c'], allowNonFinite: true });
  const t = fill(lax, [{ a: Number.NaN, b: Infinity, c: -Infinity }]);
  assert.ok(Number.isNaN(t.data[0]));
  assert.equal(t.data[1], Infinity);
  assert.equal(t.data[2], -Infinity);
});

test('int64 inputs get a BigInt64Array and reject non-integers', () => {
  const spec: TensorSpec = { name: 'ids', dtype: 'int64', shape: ['batch', 2] };
  const p = plan(spec, { features: ['u', 'v'], defaults: { v: 9 } });
  const t = fill(p, [{ u: 3, v: '4' }, { u: true }]);
  assert.ok(t.data instanceof BigInt64Array);
  assert.deepEqual([...t.data], [3n, 4n, 1n, 9n]);
  const e = throwsCode('INVALID_FEATURE_TYPE', () => fill(p, [{ u: 2.5, v: 1 }]));
  assert.equal(e.details?.['feature'], 'u');
  assert.match(e.message, /int64 needs an integer/);
  throwsCode('INVALID_FEATURE_TYPE', () => fill(plan(spec), [{ ids: [1, 2.5] }]));
});

test('config dtype overrides the model dtype', () => {
  // InputConfig types dtype as 'float32' only (model-config.ts casts the picklist), hence the cast.
  const cfg = { features: ['u', 'v'], dtype: 'int64' } as unknown as InputConfig;
  const p = plan({ name: 'ids', dtype: 'float32', shape: ['batch', 2] }, cfg);
  assert.equal(p.dtype, 'int64');
  assert.ok(fill(p, [{ u: 1, v: 2 }]).data instanceof BigInt64Array);
});

test('array mode: static inner dims from the model, nested arrays are flattened', () => {
  const p = plan({ name: 'image', dtype: 'float32', shape: ['batch', 1, 2, 2] });
  assert.deepEqual(p.rowShape, [1, 2, 2]);
  assert.equal(p.features, undefined);
  const t = fill(p, [{ image: [[[1, 2], [3, 4]]] }, { image: [[5, 6], [7, 8]] }, { image: [9, 10, 11, 12] }]);
  assert.deepEqual(t.dims, [3, 1, 2, 2]);
  assert.deepEqual([...t.data], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
});

test('array mode: wrong length is SHAPE_MISMATCH, a non-array INVALID_FEATURE_TYPE, absent MISSING_FEATURE', () => {
  const p = plan({ name: 'image', dtype: 'float32', shape: ['batch', 2, 2] });
  const e = throwsCode('SHAPE_MISMATCH', () => fill(p, [{ image: [1, 2, 3, 4] }, { image: [[1, 2], [3]] }]));
  assert.equal(e.details?.['row'], 1);
  assert.equal(e.details?.['expected'], 4);
  assert.equal(e.details?.['got'], 3);
  throwsCode('SHAPE_MISMATCH', () => fill(p, [{ image: [1, 2, 3, 4, 5] }]));
  throwsCode('INVALID_FEATURE_TYPE', () => fill(p, [{ image: 'pixels' }]));
  throwsCode('INVALID_FEATURE_TYPE', () => fill(p, [{ image: [1, 2, 'x', 4] }]));
  const m = throwsCode('MISSING_FEATURE', () => fill(p, [{ other: [1, 2, 3, 4] }]));
  assert.equal(m.details?.['feature'], 'image');
});

test('array mode: config shape gives the row shape of dynamic inner dims; without it, records cannot fill them', () => {
  const spec: TensorSpec = { name: 'seq', dtype: 'float32', shape: ['batch', 'len'] };
  const p = plan(spec, { shape: [4] });
  assert.deepEqual([...fill(p, [{ seq: [1, 2, 3, 4] }]).data], [1, 2, 3, 4]);
  throwsCode('INVALID_REQUEST', () => fill(plan(spec), [{ seq: [1, 2, 3, 4] }]));
});

test('a direct array under the input name is accepted in features mode', () => {
  const p = plan(X3, { features: ['a', 'b', 'c'] });
  const t = fill(p, [{ x: [7, 8, 9] }, { a: 1, b: 2, c: 3 }]);
  assert.deepEqual([...t.data], [7, 8, 9, 1, 2, 3]);
  throwsCode('SHAPE_MISMATCH', () => fill(p, [{ x: [7, 8] }]));
});

test('a record that is not an object is INVALID_REQUEST', () => {
  const p = plan(X3, { features: ['a', 'b', 'c'] });
  for (const bad of [null, [1, 2, 3], 5, 'row']) {
    const e = throwsCode('INVALID_REQUEST', () => fill(p, [bad as unknown as FeatureRecord]));
    assert.equal(e.details?.['row'], 0);
  }
});

test('a config naming an input the model lacks is INVALID_CONFIG', () => {
  const e = throwsCode('INVALID_CONFIG', () => planInputs([X3], config({ y: { features: ['a'] } })));
  assert.equal(e.details?.['path'], 'inputs.y');
  assert.match(e.message, /no input "y"/);
  assert.match(e.message, /x/);
});

test('a feature count that does not match a static dim is INVALID_CONFIG', () => {
  const e = throwsCode('INVALID_CONFIG', () => plan(X3, { features: ['a', 'b'] }));
  assert.equal(e.details?.['path'], 'inputs.x.features');
  assert.match(e.message, /2 features/);
  throwsCode('INVALID_CONFIG', () => plan({ name: 'x', dtype: 'float32', shape: ['batch', 2, 2] }, { features: ['a', 'b'] }));
  const s = throwsCode('INVALID_CONFIG', () => plan({ name: 'x', dtype: 'float32', shape: ['batch', 3] }, { shape: [4] }));
  assert.equal(s.details?.['path'], 'inputs.x.shape');
});

test('padding to a fixed batch leaves zero rows after the real ones', () => {
  const p = plan(X3, { features: ['a', 'b', 'c'] });
  const recs = [{ a: 1, b: 2, c: 3 }, { a: 4, b: 5, c: 6 }, { a: 7, b: 8, c: 9 }];
  const t = fillInput(p, recs, 1, 3, 4);
  assert.deepEqual(t.dims, [4, 3]);
  assert.deepEqual([...t.data], [4, 5, 6, 7, 8, 9, 0, 0, 0, 0, 0, 0]);
  const ids = plan({ name: 'ids', dtype: 'int64', shape: [2, 1] }, { features: ['u'] });
  const b = fillInput(ids, [{ u: 5 }], 0, 1, 2);
  assert.deepEqual([...b.data], [5n, 0n]);
});

test('an input of shape [batch] (one value per row) can be filled from records',
  () => {
    // Either form of a per-row scalar would do: `{x: 2}` or `{x: [2]}`.
    const p = plan({ name: 'x', dtype: 'float32', shape: ['batch'] });
    let t;
    try {
      t = fill(p, [{ x: 2 }, { x: 3 }]);
    } catch {
      t = fill(p, [{ x: [2] }, { x: [3] }]);
    }
    assert.deepEqual(t.dims, [2]);
    assert.deepEqual([...t.data], [2, 3]);
  });

test('integers out of range of an int32 input are rejected, not wrapped',
  () => {
    const p = plan({ name: 'x', dtype: 'int32', shape: ['batch', 1] }, { features: ['a'] });
    assert.throws(() => fill(p, [{ a: 2 ** 33 }]), (e: unknown) =>
      (isOmniserveError(e, 'INVALID_FEATURE_VALUE') || isOmniserveError(e, 'INVALID_FEATURE_TYPE')) && e.details?.['feature'] === 'a');
  });

test('layered rows: later layers win, null overrides, a missing value falls back; same tensor and errors as the merged record', () => {
  const p = plan(X3, { features: ['a', 'b', 'c'], defaults: { c: 9 } });
  const user = { a: '1', b: '2', u: 'x' };
  const item = { b: 20 };
  const context = { a: 100 };
  const row = new LayeredRecord([user, item, context]);
  assert.deepEqual([...fill(p, [row]).data], [100, 20, 9]);
  assert.deepEqual([...fill(p, [row]).data], [...fill(p, [plainRecord(row)]).data]);
  assert.deepEqual(plainRecord(row), { a: 100, b: 20, u: 'x' }, 'merged: every key, later layers winning');
  assert.equal(featureValue(row, 'u'), 'x');
  assert.equal(featureValue(row, 'zz'), undefined);
  // null in a later layer hides an earlier value, as a merge would: the default applies.
  const nulled = new LayeredRecord([{ a: 1, b: 2, c: 3 }, { c: null }]);
  assert.deepEqual([...fill(p, [nulled]).data], [1, 2, 9]);
  const strict = plan(X3, { features: ['a', 'b', 'c'] });
  const e = throwsCode('MISSING_FEATURE', () => fill(strict, [{ a: 1, b: 2, c: 3 }, new LayeredRecord([{ a: 1 }, { c: 3 }])]));
  assert.deepEqual([e.details?.['row'], e.details?.['feature']], [1, 'b']);
  const bad = throwsCode('INVALID_FEATURE_TYPE', () => fill(strict, [new LayeredRecord([{ a: 1, b: 2, c: 3 }, { b: 'two' }])]));
  assert.equal(bad.details?.['feature'], 'b');
  // A whole array under the input's name in a later layer feeds the input directly.
  assert.deepEqual([...fill(strict, [new LayeredRecord([{ a: 1, b: 2, c: 3 }, { x: [7, 8, 9] }])]).data], [7, 8, 9]);
});

test('packRows: float array inputs become typed rows in place, filling the same tensor; other records are left alone', () => {
  const image = plan({ name: 'image', dtype: 'float32', shape: ['batch', 2, 2] });
  const named = plan(X3, { features: ['a', 'b', 'c'] });
  const records: Record<string, unknown>[] = [{ image: [[0.1, 2], [3, 4]] }, { image: [5, 6, 7, 8.5], extra: 'kept' }];
  const before = fill(image, records as FeatureRecord[]);
  packRows([image], records);
  assert.ok(records[0]!['image'] instanceof Float32Array);
  assert.equal(records[1]!['extra'], 'kept');
  assert.deepEqual([...(records[1]!['image'] as Float32Array)], [5, 6, 7, 8.5]);
  assert.deepEqual([...fill(image, records as FeatureRecord[]).data], [...before.data]);
  // Named features, layered rows, non-objects and integer inputs: untouched.
  const plain = { a: 1, b: 2, c: 3 };
  const layered = new LayeredRecord([{ x: [1, 2, 3] }]);
  packRows([named], [plain, layered]);
  assert.deepEqual(plain, { a: 1, b: 2, c: 3 });
  assert.ok(Array.isArray(layered.get('x')));
  const ints = plan({ name: 'ids', dtype: 'int64', shape: ['batch', 2] });
  const intRecords = [{ ids: [1, 2] }];
  packRows([ints], intRecords);
  assert.ok(Array.isArray(intRecords[0]!.ids));
  // A direct array under a features-mode input's name is packed too, and still fills it.
  const direct: Record<string, unknown>[] = [{ x: [7, 8, 9] }];
  packRows([named], direct);
  assert.ok(direct[0]!['x'] instanceof Float32Array);
  assert.deepEqual([...fill(named, direct as FeatureRecord[]).data], [7, 8, 9]);
  // float64 inputs keep every bit.
  const f64 = plan({ name: 'v', dtype: 'float64', shape: ['batch', 1] });
  const r64: Record<string, unknown>[] = [{ v: [0.1] }];
  packRows([f64], r64);
  assert.ok(r64[0]!['v'] instanceof Float64Array);
  assert.equal((r64[0]!['v'] as Float64Array)[0], 0.1);
});

test('packRows: a bad row fails with the same named error the filler gives, numbered within the records', () => {
  const p = plan({ name: 'image', dtype: 'float32', shape: ['batch', 2, 2] });
  const rows = () => [{ image: [1, 2, 3, 4] }, { image: [1, 2, 3, 4] }] as Record<string, unknown>[];
  const cases: [ErrorCode, unknown, string?][] = [
    ['SHAPE_MISMATCH', [1, 2, 3]],
    ['INVALID_FEATURE_VALUE', [1, Number.NaN, 3, 4], 'image[1]'],
    ['INVALID_FEATURE_VALUE', [1, 2, 3, Infinity], 'image[3]'],
    ['INVALID_FEATURE_TYPE', [1, 2, 'x', 4], 'image[2]'],
    ['INVALID_FEATURE_TYPE', [1, 2, {}, 4], 'image[2]'],
  ];
  for (const [code, bad, feature] of cases) {
    const records = rows();
    records[1]!['image'] = bad;
    const e = throwsCode(code, () => packRows([p], records));
    assert.equal(e.details?.['row'], 1, code);
    if (feature) assert.equal(e.details?.['feature'], feature);
    const unpacked = throwsCode(code, () => fill(p, rows().map((r, i) => (i === 1 ? { image: bad } : r))));
    assert.equal(unpacked.message, e.message, 'the same message as at batch time');
  }
  const loose = plan({ name: 'image', dtype: 'float32', shape: ['batch', 2] }, { allowNonFinite: true });
  const ok: Record<string, unknown>[] = [{ image: [Number.NaN, Infinity] }];
  packRows([loose], ok);
  assert.ok(Number.isNaN((ok[0]!['image'] as Float32Array)[0]));
});

test('typed rows fill array inputs: same dtype copied, other dtypes converted, wrong length and non-finite refused', () => {
  const p = plan({ name: 'x', dtype: 'float32', shape: ['batch', 3] });
  assert.deepEqual([...fill(p, [{ x: new Float32Array([1, 2, 3]) }, { x: new Float64Array([4, 5, 6]) }, { x: new Int32Array([7, 8, 9]) }]).data],
    [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual([...fill(p, [{ x: new BigInt64Array([1n, 2n, 3n]) }]).data], [1, 2, 3]);
  const e = throwsCode('SHAPE_MISMATCH', () => fill(p, [{ x: [1, 2, 3] }, { x: new Float32Array(4) }]));
  assert.deepEqual([e.details?.['row'], e.details?.['got']], [1, 4]);
  const nan = throwsCode('INVALID_FEATURE_VALUE', () => fill(p, [{ x: new Float32Array([1, Number.NaN, 3]) }]));
  assert.equal(nan.details?.['feature'], 'x[1]');
  throwsCode('INVALID_FEATURE_VALUE', () => fill(p, [{ x: new Float64Array([1, 2, -Infinity]) }]));
  // An integer input takes a float row only where each value is an integer.
  const ints = plan({ name: 'x', dtype: 'int32', shape: ['batch', 2] });
  assert.deepEqual([...fill(ints, [{ x: new Float32Array([1, 2]) }]).data], [1, 2]);
  throwsCode('INVALID_FEATURE_TYPE', () => fill(ints, [{ x: new Float32Array([1, 2.5]) }]));
  // A DataView is not a row.
  throwsCode('INVALID_FEATURE_TYPE', () => fill(p, [{ x: new DataView(new ArrayBuffer(12)) }]));
  // Features mode: a typed array under the input's name feeds it directly.
  const named = plan(X3, { features: ['a', 'b', 'c'] });
  assert.deepEqual([...fill(named, [{ x: new Float32Array([7, 8, 9]) }]).data], [7, 8, 9]);
});

test('float16 inputs: values rounded to half-precision bits; past ±65504 refused; a default it cannot hold is INVALID_CONFIG', () => {
  const spec: TensorSpec = { name: 'h', dtype: 'float16', shape: ['batch', 2] };
  const p = plan(spec, { features: ['a', 'b'], defaults: { b: 0.5 } });
  const t = fill(p, [{ a: 1, b: '-2.5' }, { a: 65504 }]);
  assert.ok(t.data instanceof Uint16Array);
  assert.deepEqual([...t.data], [0x3c00, 0xc100, 0x7bff, 0x3800]);
  const e = throwsCode('INVALID_FEATURE_VALUE', () => fill(p, [{ a: 1, b: 2 }, { a: -70000, b: 0 }]));
  assert.equal(e.details?.['row'], 1);
  assert.equal(e.details?.['feature'], 'a');
  assert.match(e.message, /float16 holds ±65504/);
  // Array rows take the same checks (no float32 fast path for float16).
  assert.deepEqual([...fill(plan(spec), [{ h: [0.1, -0] }]).data], [0x2e66, 0x8000]);
  throwsCode('INVALID_FEATURE_VALUE', () => fill(plan(spec), [{ h: [1, 1e5] }]));
  throwsCode('INVALID_FEATURE_VALUE', () => fill(plan(spec), [{ h: [1, Number.NaN] }]));
  // allowNonFinite lets infinities and NaN through as their float16 patterns.
  assert.deepEqual([...fill(plan(spec, { allowNonFinite: true }), [{ h: [Infinity, -Infinity] }]).data], [0x7c00, 0xfc00]);
  const bad = throwsCode('INVALID_CONFIG', () => plan(spec, { features: ['a', 'b'], default: 1e6 }));
  assert.equal(bad.details?.['path'], 'inputs.h.default');
  assert.equal(throwsCode('INVALID_CONFIG', () => plan(spec, { features: ['a', 'b'], defaults: { b: 7e4 } })).details?.['path'], 'inputs.h.defaults.b');
});

test('int16, uint16, uint32 and uint64 inputs: their typed arrays and ranges; integer defaults checked at load', () => {
  const cases = [['int16', Int16Array, -32768, 32768], ['uint16', Uint16Array, 65535, -1], ['uint32', Uint32Array, 4294967295, 2 ** 32], ['uint64', BigUint64Array, 2 ** 53 - 1, -1]] as const;
  for (const [dtype, Ctor, ok, over] of cases) {
    const p = plan({ name: 'v', dtype, shape: ['batch', 1] }, { features: ['a'] });
    const t = fill(p, [{ a: ok }]);
    assert.ok(t.data instanceof Ctor, dtype);
    assert.equal(Number(t.data[0]), ok, dtype);
    assert.match(throwsCode('INVALID_FEATURE_VALUE', () => fill(p, [{ a: over }])).message, new RegExp(`${dtype} holds`));
    throwsCode('INVALID_FEATURE_TYPE', () => fill(p, [{ a: 1.5 }]));
    throwsCode('INVALID_CONFIG', () => plan({ name: 'v', dtype, shape: ['batch', 1] }, { features: ['a'], default: over }));
  }
  throwsCode('INVALID_CONFIG', () => plan({ name: 'v', dtype: 'int32', shape: ['batch', 1] }, { features: ['a'], default: 0.5 }));
});

test('string inputs (categorical features): text as it is, numbers as their text, defaults, layered rows, arrays; other values refused', () => {
  const spec: TensorSpec = { name: 'cat', dtype: 'string', shape: ['batch', 2] };
  const p = plan(spec, { features: ['country', 'plan'], defaults: { plan: 'free' } });
  const t = fill(p, [{ country: 'FR', plan: 'pro' }, { country: 42 }, new LayeredRecord([{ country: 'US', plan: 'pro' }, { plan: 'team' }])]);
  assert.equal(t.dtype, 'string');
  assert.deepEqual(t.data, ['FR', 'pro', '42', 'free', 'US', 'team']);
  assert.deepEqual(t.dims, [3, 2]);
  // Padding rows are empty strings.
  assert.deepEqual(fillInput(p, [{ country: 'FR', plan: 'pro' }], 0, 1, 2).data, ['FR', 'pro', '', '']);
  for (const bad of [true, { a: 1 }, [1], Number.NaN]) {
    const e = throwsCode('INVALID_FEATURE_TYPE', () => fill(p, [{ country: bad, plan: 'pro' }]));
    assert.equal(e.details?.['feature'], 'country', String(bad));
  }
  assert.equal(throwsCode('MISSING_FEATURE', () => fill(p, [{ plan: 'pro' }])).details?.['feature'], 'country');
  // Array mode: the input's strings under its name.
  assert.deepEqual(fill(plan(spec), [{ cat: ['a', 'b'] }]).data, ['a', 'b']);
  throwsCode('SHAPE_MISMATCH', () => fill(plan(spec), [{ cat: ['a'] }]));
  throwsCode('INVALID_FEATURE_TYPE', () => fill(plan(spec), [{ cat: 'ab' }]));
  // Defaults must be strings for a string input, numbers for a numeric one.
  throwsCode('INVALID_CONFIG', () => plan(spec, { features: ['country', 'plan'], default: 0 }));
  throwsCode('INVALID_CONFIG', () => plan(X3, { features: ['a', 'b', 'c'], default: 'zero' } as InputConfig));
});
