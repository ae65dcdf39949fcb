import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createCoalescer, SERVER_COALESCING } from './coalesce.ts';
import { createMemoryFeatureStore } from './memory-store.ts';

const T = { timeout: 5_000 };

describe('memory feature store', () => {
  test('getMany: hits and misses in order; initial from an object or entries', T, async () => {
    const fromObject = createMemoryFeatureStore({ 'user:1': { age: 30 }, 'item:2': { price: 9.5 } });
    assert.equal(fromObject.kind, 'memory');
    assert.deepEqual(await fromObject.getMany(['item:2', 'user:9', 'user:1']), [{ price: 9.5 }, null, { age: 30 }]);
    const fromEntries = createMemoryFeatureStore([['user:1', { age: 31 }]]);
    assert.deepEqual(await fromEntries.getMany(['user:1']), [{ age: 31 }]);
    assert.equal(fromEntries.size, 1);
    assert.equal(await fromEntries.ping(), true);
  });

  test('setMany replaces whole hashes, drops null fields, and copies what it stores', T, async () => {
    const store = createMemoryFeatureStore({ 'user:1': { age: 30, plan: 'free' } });
    const values: Record<string, string | number | null> = { age: 31, note: null };
    await store.setMany([['user:1', values], ['user:2', { vip: 1 }]]);
    values.age = 99;
    const [u1, u2] = await store.getMany(['user:1', 'user:2']);
    assert.deepEqual(u1, { age: 31 });
    assert.deepEqual(u2, { vip: 1 });
    assert.ok(Object.isFrozen(u1));
    await store.close();
    assert.equal(store.size, 0);
  });
});

describe('coalescer', () => {
  test('calls in the same tick share one fetch, duplicate keys fetched once', T, async () => {
    const fetched: string[][] = [];
    const loader = createCoalescer<string>(async (keys) => {
      fetched.push(keys);
      return keys.map((k) => k.toUpperCase());
    });
    const [a, b, c] = await Promise.all([loader.load(['x', 'y']), loader.load(['y', 'z', 'x']), loader.load([])]);
    assert.deepEqual(a, ['X', 'Y']);
    assert.deepEqual(b, ['Y', 'Z', 'X']);
    assert.deepEqual(c, []);
    assert.deepEqual(fetched, [['x', 'y', 'z']]);
    assert.deepEqual(loader.stats, { calls: 3, flushes: 1, keys: 3 });
    // A later tick is a new batch.
    await loader.load(['x']);
    assert.equal(loader.stats.flushes, 2);
  });

  test('callers one await deep still join the batch', T, async () => {
    let flushes = 0;
    const loader = createCoalescer<number>(async (keys) => (flushes++, keys.map(Number)));
    const late = async () => {
      await null;
      return loader.load(['2']);
    };
    assert.deepEqual(await Promise.all([loader.load(['1']), late()]), [[1], [2]]);
    assert.equal(flushes, 1);
  });

  test('calls from separate callbacks of one event-loop turn share one fetch', T, async () => {
    const fetched: string[][] = [];
    const loader = createCoalescer<string>(async (keys) => (fetched.push(keys), keys), SERVER_COALESCING);
    // Two timers due together run in one turn with microtasks drained between them, as
    // two HTTP requests read in one poll do: a microtask-scheduled flush would split them.
    const calls = await new Promise<Promise<string[]>[]>((done) => {
      const out: Promise<string[]>[] = [];
      setTimeout(() => void out.push(loader.load(['a'])), 0);
      setTimeout(() => { out.push(loader.load(['b'])); done(out); }, 0);
    });
    assert.deepEqual(await Promise.all(calls), [['a'], ['b']]);
    assert.deepEqual(fetched, [['a', 'b']]);
  });

  test('at most maxInFlight round trips are out; calls made meanwhile leave together', T, async () => {
    const fetched: string[][] = [];
    const gates: (() => void)[] = [];
    const loader = createCoalescer<string>((keys) => {
      fetched.push(keys);
      return new Promise((resolve) => gates.push(() => resolve(keys)));
    }, { ...SERVER_COALESCING, maxInFlight: 1 });
    const first = loader.load(['a']);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(fetched, [['a']]);
    const later = [loader.load(['b'])];
    await new Promise((r) => setImmediate(r));
    later.push(loader.load(['c', 'b']));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(fetched, [['a']], 'nothing else is sent while one round trip is out');
    gates.shift()!();
    assert.deepEqual(await first, ['a']);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(fetched, [['a'], ['b', 'c']], 'the waiting calls went as one batch');
    gates.shift()!();
    assert.deepEqual(await Promise.all(later), [['b'], ['c', 'b']]);
    assert.deepEqual(loader.stats, { calls: 3, flushes: 2, keys: 3 });
  });

  test('maxBatch starts a new batch but never splits one call; failures reach every caller', T, async () => {
    const sizes: number[] = [];
    const loader = createCoalescer<string>(async (keys) => {
      sizes.push(keys.length);
      if (keys.includes('boom')) throw new Error('store down');
      return keys;
    }, { maxBatch: 3 });
    await Promise.all([loader.load(['a', 'b']), loader.load(['c', 'd']), loader.load(['e', 'f', 'g', 'h'])]);
    assert.deepEqual(sizes, [2, 2, 4]);
    const results = await Promise.allSettled([loader.load(['boom']), loader.load(['ok'])]);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
  });

  test('a key whose value is an Error fails only the calls that asked for it, in the same round trip', T, async () => {
    let flushes = 0;
    const loader = createCoalescer<string | Error>(async (keys) => (flushes++, keys.map((k) => (k === 'bad' ? new Error(`${k}: WRONGTYPE`) : k.toUpperCase()))));
    const results = await Promise.allSettled([loader.load(['a', 'bad']), loader.load(['b']), loader.load(['bad']), loader.load(['a', 'c'])]);
    assert.equal(flushes, 1);
    assert.deepEqual(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)),
      ['bad: WRONGTYPE', ['B'], 'bad: WRONGTYPE', ['A', 'C']]);
  });
});
