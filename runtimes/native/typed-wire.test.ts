// packViews / unpackViews: every typed array type comes back with its type, length and
// values; a view of part of a buffer sends only its bytes; whole buffers stay the same object
// (so a transfer list still names them); everything else passes through.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { packViews, unpackViews } from './typed-wire.ts';

test('typed arrays in plain objects and arrays round-trip as buffers', () => {
  const views = [
    new Int8Array([-1, 2]), new Uint8Array([1, 255]), new Uint8ClampedArray([3]), new Int16Array([-300]), new Uint16Array([60000]),
    new Int32Array([-7]), new Uint32Array([4e9]), new Float32Array([0.5, NaN]), new Float64Array([1e300]),
    new BigInt64Array([-5n]), new BigUint64Array([2n ** 63n]),
  ];
  const msg = { type: 'APPLY', argumentList: [{ type: 'RAW', value: { feeds: { a: { dtype: 'float32', data: views[7], dims: [2] } }, all: views } }] };
  const packed = packViews(msg) as typeof msg;
  const walked = JSON.stringify(packed, (_k, v) => (typeof v === 'bigint' ? String(v) : v));
  assert.doesNotMatch(walked, /"0":/, 'no typed array left to walk element by element');
  const back = unpackViews(structuredClone(packed)) as typeof msg;
  const value = back.argumentList[0]!.value;
  value.all.forEach((v, i) => {
    assert.equal(v.constructor, views[i]!.constructor);
    assert.deepEqual(v, views[i]);
  });
  assert.ok(value.feeds.a.data instanceof Float32Array);
  assert.ok(Number.isNaN(value.feeds.a.data[1]));
  assert.deepEqual(value.feeds.a.dims, [2]);
});

test('a partial view sends only its bytes; a whole one keeps its buffer; other things pass as they are', () => {
  const big = new Float32Array(1000).map((_, i) => i);
  const part = big.subarray(10, 13);
  const packed = packViews({ part, whole: big }) as { part: { buffer: ArrayBuffer }; whole: { buffer: ArrayBuffer } };
  assert.equal(packed.part.buffer.byteLength, 12);
  assert.equal(packed.whole.buffer, big.buffer, 'the same buffer object: a transfer list still names it');
  const back = unpackViews(packed) as { part: Float32Array; whole: Float32Array };
  assert.deepEqual([...back.part], [10, 11, 12]);
  const dv = new DataView(new ArrayBuffer(4));
  const date = new Date(0);
  const err = new Error('x');
  const kept = packViews({ dv, date, err, n: 1, s: 's', nil: null, list: [1, 'a'] }) as Record<string, unknown>;
  assert.equal(kept['dv'], dv);
  assert.equal(kept['date'], date);
  assert.equal(kept['err'], err);
  assert.deepEqual(unpackViews(kept), { dv, date, err, n: 1, s: 's', nil: null, list: [1, 'a'] });
  // An object that only looks packed, with a name that is no typed array, stays an object.
  assert.deepEqual(unpackViews({ __omniserveTypedArray: 'Nope', buffer: new ArrayBuffer(1), length: 1 }), { __omniserveTypedArray: 'Nope', buffer: new ArrayBuffer(1), length: 1 });
});
