// Plain tensors: tensorFromNumbers checks length and values per dtype; helpers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isOmniserveError, type ErrorCode } from '../errors.ts';
import { readFileSync } from 'node:fs';
import {
  allocate, describe, firstNonFiniteHalf, fromHalf, isDType, isStaticDim, numericData, sizeOf, tensorBytes, tensorFromBytes, tensorFromNumbers,
  toHalf, toPlainArray, type NumericDType,
} from './tensor.ts';

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
  const want: Record<NumericDType, unknown> = {
    float16: Uint16Array, float32: Float32Array, float64: Float64Array,
    int8: Int8Array, int16: Int16Array, int32: Int32Array, int64: BigInt64Array,
    uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array, uint64: BigUint64Array,
    bool: Uint8Array,
  };
  for (const [dtype, ctor] of Object.entries(want) as [NumericDType, new () => unknown][]) {
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
  assert.equal(isDType('float16'), true);
  assert.equal(isDType('bfloat16'), false);
  assert.equal(isDType('string'), true);
  assert.deepEqual(allocate('string', 2), ['', '']);
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

const HALF = JSON.parse(readFileSync(new URL('../../test/fixtures/goldens/float16.json', import.meta.url), 'utf8')) as { pairs: [number | string, number][] };
const double = (v: number | string) => (typeof v === 'number' ? v : v === 'Infinity' ? Infinity : -Infinity);
const hex = (b: number) => `0x${b.toString(16).padStart(4, '0')}`;

test('toHalf rounds as numpy does: ties to even, subnormals, the overflow edge (float16.json)', () => {
  assert.ok(HALF.pairs.length > 300);
  for (const [v, bits] of HALF.pairs) assert.equal(hex(toHalf(double(v))), hex(bits), `toHalf(${v})`);
  assert.equal(toHalf(Number.NaN) & 0x7c00, 0x7c00);
  assert.notEqual(toHalf(Number.NaN) & 0x3ff, 0, 'NaN stays NaN');
  assert.equal(toHalf(-0), 0x8000);
});

test('fromHalf reads every float16 bit pattern, and toHalf gives each one back', () => {
  const f16round = (Math as { f16round?: (x: number) => number }).f16round;
  for (let h = 0; h < 0x10000; h++) {
    const x = fromHalf(h);
    if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) {
      assert.ok(Number.isNaN(x), hex(h));
      continue;
    }
    assert.equal(toHalf(x), h, `${hex(h)} → ${x}`);
    // Hosts with Math.f16round (Bun, Deno, browsers) agree on the value.
    if (f16round) assert.ok(Object.is(f16round(x), x), `${hex(h)}: f16round(${x})`);
  }
  assert.equal(fromHalf(0x3c00), 1);
  assert.equal(fromHalf(0x7bff), 65504);
  assert.equal(fromHalf(0x0001), 2 ** -24);
  assert.equal(fromHalf(0xfc00), -Infinity);
  assert.ok(Object.is(fromHalf(0x8000), -0));
});

test('float16 tensors: values in, bits held, values out; overflow and NaN refused', () => {
  const t = tensorFromNumbers('float16', [1, -2.5, 0.1, 65504, true], [5], 'h');
  assert.ok(t.data instanceof Uint16Array);
  assert.deepEqual([...t.data].map(hex), ['0x3c00', '0xc100', '0x2e66', '0x7bff', '0x3c00']);
  assert.deepEqual(toPlainArray(t), [1, -2.5, fromHalf(0x2e66), 65504, 1]);
  assert.ok(Math.abs((toPlainArray(t) as number[])[2]! - 0.1) < 1e-4);
  const n = numericData(t);
  assert.ok(n instanceof Float32Array && n[1] === -2.5);
  for (const bad of [65520, -1e6]) {
    const e = throwsCode('INVALID_FEATURE_VALUE', () => tensorFromNumbers('float16', [0, bad], [2], 'h'));
    assert.match(e.message, /h\[1\] is .*float16 holds ±65504/);
  }
  // 65519 rounds down to 65504: stored, not refused.
  assert.equal(tensorFromNumbers('float16', [65519], [1]).data[0], 0x7bff);
  throwsCode('INVALID_FEATURE_VALUE', () => tensorFromNumbers('float16', [Number.NaN], [1]));
  throwsCode('INVALID_FEATURE_TYPE', () => tensorFromNumbers('float16', ['1'], [1]));
});

test('float16 from bytes: little-endian bits, NaN and infinity refused', () => {
  const bytes = new Uint8Array([0x00, 0x3c, 0x00, 0xc1]);
  assert.deepEqual(toPlainArray(tensorFromBytes('float16', bytes, [2])), [1, -2.5]);
  for (const bad of [[0x00, 0x7c], [0x01, 0x7e], [0x00, 0xfc]]) {
    const e = throwsCode('INVALID_FEATURE_VALUE', () => tensorFromBytes('float16', new Uint8Array([0, 0x3c, ...bad]), [2], 'h'));
    assert.equal(e.details?.['index'], 1);
  }
  assert.equal(firstNonFiniteHalf(new Uint16Array([0x3c00, 0x7bff, 0xfbff])), -1);
  assert.equal(firstNonFiniteHalf(new Uint16Array([0x3c00, 0x7c00])), 1);
});

test('int16, uint16, uint32 hold their ranges and refuse what is outside', () => {
  assert.deepEqual(toPlainArray(tensorFromNumbers('int16', [-32768, 32767], [2])), [-32768, 32767]);
  assert.deepEqual(toPlainArray(tensorFromNumbers('uint16', [0, 65535], [2])), [0, 65535]);
  assert.deepEqual(toPlainArray(tensorFromNumbers('uint32', [0, 4294967295], [2])), [0, 4294967295]);
  for (const [dtype, v] of [['int16', 32768], ['int16', -32769], ['uint16', 65536], ['uint16', -1], ['uint32', 2 ** 32], ['uint32', -1]] as const) {
    const e = throwsCode('INVALID_FEATURE_VALUE', () => tensorFromNumbers(dtype, [v], [1], 'x'));
    assert.match(e.message, new RegExp(`${dtype} holds`), `${dtype} ${v}`);
  }
  throwsCode('INVALID_FEATURE_TYPE', () => tensorFromNumbers('uint16', [1.5], [1]));
});

test('uint64 takes safe integers, decimal strings up to 2^64-1 and bigints; refuses negatives and more', () => {
  const t = tensorFromNumbers('uint64', [0, 7, '18446744073709551615', 2n ** 63n], [4]);
  assert.ok(t.data instanceof BigUint64Array);
  assert.deepEqual([...t.data], [0n, 7n, 2n ** 64n - 1n, 2n ** 63n]);
  for (const bad of [-1, '-1', '18446744073709551616', -1n]) {
    const e = throwsCode('INVALID_FEATURE_VALUE', () => tensorFromNumbers('uint64', [bad], [1], 'u'));
    assert.match(e.message, /uint64 holds 0\.\.18446744073709551615/);
  }
  for (const bad of [1.5, 'x', 2 ** 60]) throwsCode('INVALID_FEATURE_TYPE', () => tensorFromNumbers('uint64', [bad], [1]));
  // int64's range is checked the same way.
  throwsCode('INVALID_FEATURE_VALUE', () => tensorFromNumbers('int64', ['9223372036854775808'], [1]));
  assert.deepEqual([...tensorFromNumbers('int64', ['-9223372036854775808'], [1]).data], [-(2n ** 63n)]);
});

test('string tensors: strings only from JSON; OIP BYTES binary (length-prefixed UTF-8) both ways', () => {
  const t = tensorFromNumbers('string', ['pale', 'déjà vu', ''], [3, 1], 'band');
  assert.deepEqual(t.data, ['pale', 'déjà vu', '']);
  assert.deepEqual(toPlainArray(t), ['pale', 'déjà vu', '']);
  const e = throwsCode('INVALID_FEATURE_TYPE', () => tensorFromNumbers('string', ['a', 1], [2], 'band'));
  assert.equal(e.details?.['index'], 1);
  const bytes = tensorBytes(t);
  assert.deepEqual([...bytes.subarray(0, 8)], [4, 0, 0, 0, 0x70, 0x61, 0x6c, 0x65]);
  assert.equal(bytes.byteLength, 4 + 4 + 4 + 9 + 4);
  assert.deepEqual(tensorFromBytes('string', bytes, [3, 1]).data, ['pale', 'déjà vu', '']);
  throwsCode('SHAPE_MISMATCH', () => tensorFromBytes('string', bytes, [2, 1]));
  throwsCode('SHAPE_MISMATCH', () => tensorFromBytes('string', bytes, [4, 1]));
  throwsCode('SHAPE_MISMATCH', () => tensorFromBytes('string', bytes.subarray(0, 10), [3, 1]));
  throwsCode('SHAPE_MISMATCH', () => tensorFromBytes('string', new Uint8Array([1, 0]), [1]));
  throwsCode('INVALID_FEATURE_VALUE', () => tensorFromBytes('string', new Uint8Array([1, 0, 0, 0, 0xff]), [1]));
  throwsCode('UNSUPPORTED_DTYPE', () => numericData(t));
});
