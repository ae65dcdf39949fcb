import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isOmniserveError } from '../errors.ts';
import { createMemoryCache } from './memory-cache.ts';

const T = { timeout: 5_000 };

describe('memory prediction cache', () => {
  test('get returns what set stored; a miss is undefined', T, async () => {
    const cache = createMemoryCache();
    assert.equal(cache.kind, 'memory');
    await cache.set('k', { prediction: 1, probability: 0.9 }, 1_000);
    assert.deepEqual(await cache.get('k'), { prediction: 1, probability: 0.9 });
    assert.equal(await cache.get('absent'), undefined);
    await cache.set('null', null, 1_000);
    assert.equal(await cache.get('null'), null, 'a cached null is a hit');
  });

  test('evicts the least recently used entry, where a get counts as a use', T, async () => {
    const cache = createMemoryCache({ maxEntries: 3 });
    await cache.set('a', 1, 60_000);
    await cache.set('b', 2, 60_000);
    await cache.set('c', 3, 60_000);
    assert.equal(await cache.get('a'), 1); // order now b, c, a
    await cache.set('d', 4, 60_000); // evicts b
    assert.equal(await cache.get('b'), undefined);
    await cache.set('c', 30, 60_000); // re-set moves c to the back: a, d, c
    await cache.set('e', 5, 60_000); // evicts a
    assert.equal(await cache.get('a'), undefined);
    assert.deepEqual([await cache.get('c'), await cache.get('d'), await cache.get('e')], [30, 4, 5]);
    assert.equal(cache.size, 3);
  });

  test('entries expire after their TTL (injected clock)', T, async () => {
    let now = 1_000;
    const cache = createMemoryCache({ now: () => now });
    await cache.set('short', 's', 100);
    await cache.set('long', 'l', 10_000);
    await cache.set('never', 'n', 0);
    now += 99;
    assert.equal(await cache.get('short'), 's');
    now += 1;
    assert.equal(await cache.get('short'), undefined);
    assert.equal(await cache.get('long'), 'l');
    assert.equal(await cache.get('never'), undefined, 'ttl 0 stores nothing');
    assert.equal(cache.size, 1, 'the expired entry was dropped on read');
  });

  test('entries expire on the real clock too', T, async () => {
    const cache = createMemoryCache();
    await cache.set('k', 1, 20);
    assert.equal(await cache.get('k'), 1);
    await new Promise((r) => setTimeout(r, 40));
    assert.equal(await cache.get('k'), undefined);
  });

  test('defaults to 10,000 entries; rejects a bad bound', T, async () => {
    const cache = createMemoryCache();
    for (let i = 0; i < 10_001; i++) await cache.set(`k${i}`, i, 60_000);
    assert.equal(cache.size, 10_000);
    assert.equal(await cache.get('k0'), undefined);
    assert.equal(await cache.get('k10000'), 10_000);
    assert.throws(() => createMemoryCache({ maxEntries: 0 }), (e) => isOmniserveError(e, 'INVALID_CONFIG'));
  });
});
