// Plain tensors: tensorFromNumbers checks length and values per dtype; helpers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isOmniserveError, type ErrorCode } from '../errors.ts';
import { allocate, describe, isDType, isStaticDim, sizeOf, tensorFromNumbers, toPlainArray, type DType } from './tensor.ts';

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

test('tensorFromNumbers builds the typed array of each dtype', () => {
  const want: Record<DType, unknown> = {
    float32: Float32Array, float64: Float64Array, int32: Int32Array, int64: BigInt64Array,
    uint8: Uint8Array, int8: Int8Array, bool: Uint8Array,
  };
  for (const [dtype, ctor] of Object.entries(want) as [DType, new () => unknown][]) {
    const t = tensorFromNumbers(dtype, [1, 0, 1, 1], [2, 2]);
    assert.ok(t.data instanceof ctor, `${dtype} → ${ctor.name}`);
    assert.equal(t.dtype, dtype);
    assert.deepEqual(t.dims, [2, 2]);
    assert.deepEqual(toPlainArray(t), [1, 0, 1, 1]);
  }
  const f = tensorFromNumbers('float32', [0.5, -2.25, 3], [3]);
  assert.deepEqual([...f.data], [0.5, -2.25, 3]);
});

test('dims are copied, not shared with the caller', () => {
  const dims = [1, 2];
  const t = tensorFromNumbers('float32', [1, 2], dims);
  dims[0] = 99;
  assert.deepEqual(t.dims, [1, 2]);
});

test('a length that does not fill the shape is SHAPE_MISMATCH', () => {
  const e = throwsCode('SHAPE_MISMATCH', () => tensorFromNumbers('float32', [1, 2, 3], [2, 2], 'numeric'));
  assert.equal(e.details?.['expected'], 4);
  assert.equal(e.details?.['got'], 3);
  assert.match(e.message, /^numeric: 3 values do not fill shape \[2,2\]/);
  throwsCode('SHAPE_MISMATCH', () => tensorFromNumbers('int64', [1, 2, 3, 4, 5], [2, 2]));
  assert.equal(tensorFromNumbers('float32', [], [0, 3]).data.length, 0);
});

test('NaN and ±Infinity are INVALID_FEATURE_VALUE', () => {
  for (const bad of [Number.NaN, Infinity, -Infinity]) {
    const e = throwsCode('INVALID_FEATURE_VALUE', () => tensorFromNumbers('float32', [1, bad], [2], 'x'));
    assert.equal(e.details?.['index'], 1);
  }
});

test('non-numbers and non-integers for integer dtypes are INVALID_FEATURE_TYPE', () => {
  throwsCode('INVALID_FEATURE_TYPE', () => tensorFromNumbers('float32', ['1'], [1]));
  throwsCode('INVALID_FEATURE_TYPE', () => tensorFromNumbers('float32', [null], [1]));
  throwsCode('INVALID_FEATURE_TYPE', () => tensorFromNumbers('float32', [[1]], [1]));
  throwsCode('INVALID_FEATURE_TYPE', () => tensorFromNumbers('int32', [2.5], [1]));
  throwsCode('INVALID_FEATURE_TYPE', () => tensorFromNumbers('uint8', [0.5], [1]));
});

test('int64 accepts safe integers, integer strings and bigints, exactly', () => {
  const t = tensorFromNumbers('int64', [3, -4, '9007199254740993', '-12', 5n, 2n ** 62n], [6]);
  assert.ok(t.data instanceof BigInt64Array);
  assert.deepEqual([...t.data], [3n, -4n, 9007199254740993n, -12n, 5n, 2n ** 62n]);
  assert.deepEqual(toPlainArray(tensorFromNumbers('int64', [7, '8'], [2])), [7, 8]);
});

test('int64 rejects fractions, unsafe numbers and non-integer strings', () => {
  for (const bad of [2.5, 2 ** 60, Number.NaN, '1.5', 'abc', '', true, null]) {
    const e = throwsCode('INVALID_FEATURE_TYPE', () => tensorFromNumbers('int64', [1, bad], [2], 'ids'));
    assert.equal(e.details?.['index'], 1, `value ${String(bad)}`);
    assert.match(e.message, /ids\[1\]/);
  }
});

test('bool accepts true/false/0/1', () => {
  const t = tensorFromNumbers('bool', [true, false, 0, 1], [4]);
  assert.ok(t.data instanceof Uint8Array);
  assert.deepEqual([...t.data], [1, 0, 0, 1]);
});

test('bool rejects values other than true/false/0/1',
  () => {
    for (const v of [2, -1]) {
      assert.throws(() => tensorFromNumbers('bool', [v], [1]),
        (e: unknown) => isOmniserveError(e, 'INVALID_FEATURE_VALUE') || isOmniserveError(e, 'INVALID_FEATURE_TYPE'), `bool ${v}`);
    }
  });

test('integers out of range of uint8/int8/int32 are rejected, not wrapped',
  () => {
    for (const [dtype, v] of [['uint8', 300], ['uint8', -1], ['int8', 200], ['int32', 2 ** 40]] as const) {
      assert.throws(() => tensorFromNumbers(dtype, [v], [1]),
        (e: unknown) => isOmniserveError(e, 'INVALID_FEATURE_VALUE') || isOmniserveError(e, 'INVALID_FEATURE_TYPE'),
        `${dtype} ${v}`);
    }
  });

test('helpers: sizeOf, isStaticDim, isDType, allocate, describe', () => {
  assert.equal(sizeOf([2, 3, 4]), 24);
  assert.equal(sizeOf([]), 1);
  assert.equal(isStaticDim(3), true);
  assert.equal(isStaticDim(0), true);
  assert.equal(isStaticDim(-1), false);
  assert.equal(isStaticDim('batch'), false);
  assert.equal(isStaticDim(null), false);
  assert.equal(isDType('int64'), true);
  assert.equal(isDType('float16'), false);
  assert.equal(isDType('toString'), false);
  const a = allocate('int64', 3);
  assert.ok(a instanceof BigInt64Array && a.length === 3 && a.every((x) => x === 0n));
  assert.equal(describe(null), 'null');
  assert.equal(describe([1]), 'an array');
  assert.equal(describe({}), 'an object');
  assert.equal(describe('abc'), 'the string "abc"');
  assert.equal(describe('x'.repeat(50)), `the string "${'x'.repeat(40)}…"`);
  assert.equal(describe(true), 'true');
});
