/**
 * The Redis TCP feature store against a real redis-server: reads, coalescing (counted by
 * the driver and by Redis's own command stats), and outages.
 */
import assert from 'node:assert/strict';
import process from 'node:process';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { isOmniserveError } from '../../src/errors.ts';
import { freePort } from '../../test/support/free-port.ts';
import { hgetallCalls, startRedis, type RedisServer } from '../../test/support/redis-server.ts';
import { createRedisFeatureStore, type RedisFeatureStore } from './redis-store.ts';

const T = { timeout: 30_000 };

const unavailable = (e: unknown) => isOmniserveError(e, 'FEATURE_STORE_UNAVAILABLE');

describe('redis feature store', { timeout: 120_000 }, () => {
  let redis: RedisServer;
  let direct: Redis;
  let store: RedisFeatureStore;

  before(async () => {
    redis = await startRedis();
    direct = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    const p = direct.pipeline();
    for (let i = 0; i < 1_000; i++) p.hset(`user:${i}`, { age: String(20 + (i % 50)), score: String(i / 10), plan: i % 2 ? 'pro' : 'free' });
    await p.exec();
    store = createRedisFeatureStore({ url: redis.url });
  });
  after(async () => {
    await store?.close();
    direct?.disconnect();
    await redis?.stop();
  });

  test('hits and misses in the order asked; canonical decimals come back as numbers, other values as the strings Redis holds', T, async () => {
    assert.equal(store.kind, 'redis');
    const got = await store.getMany(['user:7', 'user:nope', 'user:0', 'item:1']);
    assert.deepEqual(got, [{ age: 27, score: 0.7, plan: 'pro' }, null, { age: 20, score: 0, plan: 'free' }, null]);
    assert.deepEqual(await store.getMany([]), []);
  });

  test('values come back verbatim: no digits lost, nothing reinterpreted (a number prints back as the stored text)', T, async () => {
    const stored = { id: '123456789012345678', tiny: '0.12345678901234567', sci: '1e5', inf: 'inf', text: 'x', zip: '02139', cents: '1.50', small: '0.0000001', neg0: '-0', n: '-12.25' };
    await store.client.hset('user:precise', stored);
    const [h] = await store.getMany(['user:precise']);
    assert.deepEqual(h, { ...stored, n: -12.25 });
    for (const [k, v] of Object.entries(h!)) assert.equal(String(v), stored[k as keyof typeof stored], k);
  });

  test('values and field names holding the reply separators (\\x1e, \\x1f), "!", empty strings and UTF-8 come back verbatim', T, async () => {
    const odd = { 'a\x1fb': 'x\x1fy', rs: 'p\x1eq', bang: '!not an error', empty: '', 'ü': 'ünïcode ✓', n: '1.5x' };
    await store.client.hset('user:odd', odd);
    await store.client.hset('user:bang', { '!': '!' });
    const got = await store.getMany(['user:7', 'user:odd', 'user:nope', 'user:bang', 'user:0']);
    assert.deepEqual(got, [{ age: 27, score: 0.7, plan: 'pro' }, odd, null, { '!': '!' }, { age: 20, score: 0, plan: 'free' }]);
    // Only a \x1f inside one hash: that key alone is read again; the others keep the fast form.
    await store.client.hset('user:unit', { u: 'a\x1fb' });
    assert.deepEqual(await store.getMany(['user:unit', 'user:1']), [{ u: 'a\x1fb' }, { age: 21, score: 0.1, plan: 'pro' }]);
  });

  test('1,000 keys: one pipeline, one HGETALL each', T, async () => {
    const keys = Array.from({ length: 1_000 }, (_, i) => `user:${999 - i}`);
    const flushes = store.stats.flushes;
    const calls = await hgetallCalls(direct);
    const got = await store.getMany(keys);
    assert.equal(store.stats.flushes - flushes, 1);
    assert.equal((await hgetallCalls(direct)) - calls, 1_000);
    assert.equal(got.length, 1_000);
    got.forEach((h, i) => assert.equal(h?.score, (999 - i) / 10));
  });

  test('64 concurrent getMany calls share one pipeline; shared keys are read once', T, async () => {
    const flushes = store.stats.flushes;
    const calls = await hgetallCalls(direct);
    // Each caller asks for its own user and the same popular item.
    const results = await Promise.all(Array.from({ length: 64 }, (_, c) => store.getMany([`user:${c}`, 'user:999'])));
    assert.equal(store.stats.flushes - flushes, 1, 'one round trip for 64 calls');
    assert.equal((await hgetallCalls(direct)) - calls, 65, '64 distinct users + 1 shared key');
    results.forEach((r, c) => {
      assert.equal(r[0]?.score, c / 10);
      assert.equal(r[1]?.score, 99.9);
    });
  });

  test('setMany replaces hashes; keyPrefix namespaces keys', T, async () => {
    const prefixed = createRedisFeatureStore({ url: redis.url, keyPrefix: 'tenant1:' });
    try {
      await direct.hset('tenant1:user:5', { old: 'x' });
      await prefixed.setMany([['user:5', { a: 1.5, b: null, c: false }], ['user:6', {}]]);
      assert.deepEqual(await direct.hgetall('tenant1:user:5'), { a: '1.5', c: '0' });
      assert.equal(await direct.exists('tenant1:user:6'), 0, 'an empty hash is no hash');
      assert.deepEqual(await prefixed.getMany(['user:5', 'user:1']), [{ a: 1.5, c: 0 }, null]);
      assert.equal(await prefixed.ping(), true);
    } finally {
      await prefixed.close();
    }
  });

  test('a key holding a non-hash fails only the calls that asked for it', T, async () => {
    await direct.set('user:str', 'plain string');
    const [bad, good] = await Promise.allSettled([store.getMany(['user:str']), store.getMany(['user:1'])]);
    assert.equal(bad.status, 'rejected');
    assert.ok(unavailable((bad as PromiseRejectedResult).reason));
    assert.match((bad as PromiseRejectedResult).reason.message, /user:str.*WRONGTYPE/);
    assert.equal((good as PromiseFulfilledResult<unknown[]>).value.length, 1);
  });

  test('no Redis at start: FEATURE_STORE_UNAVAILABLE quickly, not a hang', T, async () => {
    const port = await freePort();
    const lonely = createRedisFeatureStore({ url: `redis://127.0.0.1:${port}` });
    try {
      const t0 = performance.now();
      await assert.rejects(lonely.getMany(['user:1']), unavailable);
      assert.ok(performance.now() - t0 < 1_500, `took ${Math.round(performance.now() - t0)} ms`);
      assert.equal(await lonely.ping(), false);
    } finally {
      await lonely.close();
    }
  });
  test('fields named like Object.prototype members (__proto__, constructor) are data; shapes repeat without mixing up hashes', T, async () => {
    await direct.hset('user:proto', '__proto__', 'p', 'constructor', 'c', 'toString', 't', 'age', '9');
    await direct.hset('user:proto2', { age: '10', constructor: 'c2' });
    await direct.hset('user:proto3', 'a', '1', 'b', '2', '__proto__', '3', 'c', '4');
    for (let round = 0; round < 3; round++) {
      const [h, h2, h7, h3] = await store.getMany(['user:proto', 'user:proto2', 'user:7', 'user:proto3']);
      assert.deepEqual(Object.entries(h3!), [['a', 1], ['b', 2], ['__proto__', 3], ['c', 4]]);
      assert.equal(Object.getPrototypeOf(h), Object.prototype);
      assert.deepEqual(Object.entries(h!), [['__proto__', 'p'], ['constructor', 'c'], ['toString', 't'], ['age', 9]]);
      assert.deepEqual(Object.entries(h2!), [['age', 10], ['constructor', 'c2']]);
      assert.deepEqual(h7, { age: 27, score: 0.7, plan: 'pro' });
    }
  });

  test('a reply spanning many socket reads, UTF-8 split across them, comes back whole', T, async () => {
    const wide: Record<string, string> = {};
    for (let i = 0; i < 2_000; i++) wide[`f${i}_ü`] = `${'✓ü'.repeat(20 + (i % 7))}${i}`;
    await direct.hset('user:wide', wide);
    const keys = Array.from({ length: 20 }, (_, i) => (i % 2 ? 'user:wide' : `user:${i}`));
    const got = await store.getMany(keys);
    assert.deepEqual(got[1], wide);
    assert.deepEqual(got[2], { age: 22, score: 0.2, plan: 'free' });
  });

  test('AUTH (user and password, or password alone) and the database from the URL; a wrong password is FEATURE_STORE_UNAVAILABLE', T, async () => {
    const own = await startRedis();
    const admin = new Redis(own.url);
    try {
      await admin.acl('SETUSER', 'alice', 'on', '>s3cret', '~*', '&*', '+@all');
      await admin.select(3);
      await admin.hset('user:1', { age: '41' });
      const alice = createRedisFeatureStore({ url: `redis://alice:s3cret@127.0.0.1:${own.port}/3` });
      const wrong = createRedisFeatureStore({ url: `redis://alice:nope@127.0.0.1:${own.port}/3` });
      try {
        assert.deepEqual(await alice.getMany(['user:1', 'user:2']), [{ age: 41 }, null]);
        await assert.rejects(wrong.getMany(['user:1']), (e: unknown) => unavailable(e) && /WRONGPASS|invalid|AUTH/i.test((e as Error).message));
      } finally {
        await alice.close();
        await wrong.close();
      }
      await admin.config('SET', 'requirepass', 'pw0');
      const plain = createRedisFeatureStore({ url: `redis://:pw0@127.0.0.1:${own.port}/3` });
      try {
        assert.deepEqual(await plain.getMany(['user:1']), [{ age: 41 }]);
      } finally {
        await plain.close();
      }
    } finally {
      admin.disconnect();
      await own.stop();
    }
  });

  test('Redis that stops answering: FEATURE_STORE_UNAVAILABLE after the command deadline, then answers again once it is back', T, async () => {
    const own = await startRedis();
    const admin = new Redis(own.url);
    const s = createRedisFeatureStore({ url: own.url, commandTimeoutMs: 300 });
    try {
      await admin.hset('user:1', { age: '50' });
      assert.deepEqual(await s.getMany(['user:1']), [{ age: 50 }]);
      process.kill(own.process.pid, 'SIGSTOP');
      const t0 = performance.now();
      try {
        await assert.rejects(s.getMany(['user:1']), (e: unknown) => unavailable(e) && /no reply within 300 ms/.test((e as Error).message));
        assert.ok(performance.now() - t0 < 1_500, `took ${Math.round(performance.now() - t0)} ms`);
      } finally {
        process.kill(own.process.pid, 'SIGCONT');
      }
      // The late reply went with the dropped connection: nothing answers out of step.
      await admin.hset('user:1', { age: '51' });
      assert.deepEqual(await s.getMany(['user:1', 'user:2']), [{ age: 51 }, null]);
    } finally {
      await s.close();
      admin.disconnect();
      await own.stop();
    }
  });
});

describe('redis feature store outage', { timeout: 120_000 }, () => {
  test('Redis stopped → FEATURE_STORE_UNAVAILABLE within ~1 s; restarted → works again', T, async () => {
    let redis = await startRedis();
    const store = createRedisFeatureStore({ url: redis.url });
    try {
      await store.setMany([['user:1', { age: 30 }]]);
      assert.deepEqual(await store.getMany(['user:1']), [{ age: 30 }]);

      await redis.stop();
      const t0 = performance.now();
      await assert.rejects(store.getMany(['user:1']), unavailable);
      await assert.rejects(store.getMany(['user:1']), unavailable, 'still failing fast while down');
      assert.ok(performance.now() - t0 < 1_200, `took ${Math.round(performance.now() - t0)} ms`);
      assert.equal(await store.ping(), false);

      redis = await startRedis({ port: redis.port });
      const direct = new Redis(redis.url);
      await direct.hset('user:1', { age: '31' });
      direct.disconnect();
      // Reconnects come at most a second apart.
      const deadline = Date.now() + 5_000;
      let got: unknown;
      for (;;) {
        try {
          got = await store.getMany(['user:1']);
          break;
        } catch (e) {
          assert.ok(unavailable(e));
          if (Date.now() > deadline) throw e;
          await sleep(100);
        }
      }
      assert.deepEqual(got, [{ age: 31 }]);
      assert.equal(await store.ping(), true);
    } finally {
      await store.close();
      await redis.stop();
    }
  });
});
