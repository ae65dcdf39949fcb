import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canonicalJson, predictionCacheKey } from './cache-key.ts';

const T = { timeout: 5_000 };

describe('prediction cache key', () => {
  test('same inputs in a different key order give the same key', T, () => {
    const a = predictionCacheKey('churn', '3', { user_id: 42, context: { hour: 13, device: 'ios' }, features: [1, 2] });
    const b = predictionCacheKey('churn', '3', { features: [1, 2], context: { device: 'ios', hour: 13 }, user_id: 42 });
    assert.equal(a, b);
    assert.match(a, /^pred:churn:3:[A-Za-z0-9_-]{43}$/, 'model, version and a 256-bit hash');
  });

  test('a new version, another model or other inputs never share a key', T, () => {
    const inputs = { user_id: 42 };
    const keys = new Set([
      predictionCacheKey('churn', '3', inputs),
      predictionCacheKey('churn', '4', inputs),
      predictionCacheKey('fraud', '3', inputs),
      predictionCacheKey('churn', '3', { user_id: 43 }),
      predictionCacheKey('churn', '3', { user_id: '42' }),
      predictionCacheKey('churn', '3', [42]),
      predictionCacheKey('a:b', 'c', inputs),
      predictionCacheKey('a', 'b:c', inputs),
    ]);
    assert.equal(keys.size, 8);
  });

  test('canonical JSON: sorted keys at every depth, distinct non-finite numbers, typed arrays', T, () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [3, { f: 1, e: 2 }], c: null } }), '{"a":{"c":null,"d":[3,{"e":2,"f":1}]},"b":1}');
    assert.equal(canonicalJson({ x: undefined, y: 1 }), '{"y":1}', 'undefined is absent, as in JSON');
    assert.notEqual(canonicalJson([NaN]), canonicalJson([null]));
    assert.notEqual(canonicalJson([Infinity]), canonicalJson([-Infinity]));
    assert.equal(canonicalJson(new Float32Array([0.5, 2])), '[0.5,2]');
    assert.equal(canonicalJson({ n: 10n }), '{"n":10}');
    assert.equal(canonicalJson('é"'), JSON.stringify('é"'));
  });
});
