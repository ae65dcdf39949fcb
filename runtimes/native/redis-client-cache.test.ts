/**
 * The Redis feature store's client-side cache against a real redis-server: hashes read once
 * are served from memory (Redis's own command stats say no HGETALL was made), and every way a
 * key can change (HSET, DEL, expiry, FLUSHALL, our own setMany) reaches the cache through
 * CLIENT TRACKING; a lost invalidation connection empties the cache and tracking comes back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { isOmniserveError } from '../../src/errors.ts';
import { hgetallCalls, startRedis, type RedisServer } from '../../test/support/redis-server.ts';
import { createRedisFeatureStore, type RedisFeatureStore } from './redis-store.ts';

const T = { timeout: 30_000 };

/** Polls `read` until `ok` holds (at most `ms`); returns how long it took. */
async function until<V>(read: () => Promise<V>, ok: (v: V) => boolean, ms = 3_000): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    let v: V | undefined;
    let failed = false;
    try {
      v = await read();
    } catch (e) {
      if (!isOmniserveError(e, 'FEATURE_STORE_UNAVAILABLE')) throw e;
      failed = true;
    }
    if (!failed && ok(v as V)) return performance.now() - t0;
    if (performance.now() - t0 > ms) assert.fail(`not within ${ms} ms; last: ${failed ? 'unavailable' : JSON.stringify(v)}`);
    await sleep(10);
  }
}

describe('redis feature store with clientCache', { timeout: 120_000 }, () => {
  let redis: RedisServer;
  let direct: Redis;
  let store: RedisFeatureStore;

  before(async () => {
    redis = await startRedis();
    direct = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    for (let i = 0; i < 10; i++) await direct.hset(`user:${i}`, { age: String(20 + i), plan: 'free' });
    store = createRedisFeatureStore({ url: redis.url, clientCache: {} });
  });
  after(async () => {
    await store?.close();
    direct?.disconnect();
    await redis?.stop();
  });

  test('a hash read once is served from memory: Redis sees no second HGETALL; missing keys are held too', T, async () => {
    assert.deepEqual(await store.getMany(['user:1', 'user:404']), [{ age: 21, plan: 'free' }, null]);
    const before = await hgetallCalls(direct);
    for (let i = 0; i < 20; i++) assert.deepEqual(await store.getMany(['user:1', 'user:404']), [{ age: 21, plan: 'free' }, null]);
    assert.equal(await hgetallCalls(direct), before);
    assert.ok(store.clientCache!.stats.hits >= 40);
    const clients = await direct.client('LIST') as string;
    assert.match(clients, /flags=P/, 'the invalidation subscriber is connected');
    assert.match(clients, /flags=t/, 'the reader is tracked');
  });

  test('HSET, DEL and expiry by another client reach the cache within milliseconds, not at the TTL', T, async () => {
    await store.getMany(['user:2', 'user:3', 'user:4']);
    await direct.hset('user:2', { age: '99' });
    const took = await until(() => store.getMany(['user:2']), ([h]) => h?.['age'] === 99);
    assert.ok(took < 1_000, `${took} ms`);
    await direct.del('user:3');
    await until(() => store.getMany(['user:3']), ([h]) => h === null);
    await direct.pexpire('user:4', 20);
    await until(() => store.getMany(['user:4']), ([h]) => h === null);
    // A key that did not exist when read is tracked as well.
    assert.deepEqual(await store.getMany(['user:new']), [null]);
    await direct.hset('user:new', { age: '1' });
    await until(() => store.getMany(['user:new']), ([h]) => h?.['age'] === 1);
  });

  test('FLUSHALL empties the cache', T, async () => {
    await store.getMany(['user:5', 'user:6']);
    assert.ok(store.clientCache!.size >= 2);
    await direct.flushall();
    await until(async () => store.clientCache!.size, (n) => n === 0);
    assert.deepEqual(await store.getMany(['user:5', 'user:6']), [null, null]);
    for (let i = 0; i < 10; i++) await direct.hset(`user:${i}`, { age: String(20 + i), plan: 'free' });
  });

  test('setMany through the store is read back at once (no wait for the invalidation)', T, async () => {
    await store.getMany(['user:7']);
    for (let i = 0; i < 5; i++) {
      await store.setMany([['user:7', { age: 70 + i }]]);
      assert.deepEqual(await store.getMany(['user:7']), [{ age: 70 + i }]);
    }
  });

  test('the invalidation connection killed: the cache empties, reads recover, and tracking works again', T, async () => {
    await store.getMany(['user:8']);
    assert.ok(store.clientCache!.size > 0);
    const killed = await direct.client('KILL', 'TYPE', 'pubsub');
    assert.equal(killed, 1);
    await until(async () => store.clientCache!.size, (n) => n === 0);
    await until(() => store.getMany(['user:8']), ([h]) => h?.['age'] === 28);
    await direct.hset('user:8', { age: '88' });
    await until(() => store.getMany(['user:8']), ([h]) => h?.['age'] === 88);
  });

  test('keyPrefix: invalidations of prefixed keys reach the unprefixed cache keys; AUTH on both connections', T, async () => {
    const own = await startRedis();
    const admin = new Redis(own.url);
    try {
      await admin.config('SET', 'requirepass', 'pw0');
      await admin.auth('pw0');
      await admin.hset('t1:user:1', { age: '1' });
      const prefixed = createRedisFeatureStore({ url: `redis://:pw0@127.0.0.1:${own.port}`, keyPrefix: 't1:', clientCache: {} });
      try {
        assert.deepEqual(await prefixed.getMany(['user:1']), [{ age: 1 }]);
        await admin.hset('t1:user:1', { age: '2' });
        await until(() => prefixed.getMany(['user:1']), ([h]) => h?.['age'] === 2);
      } finally {
        await prefixed.close();
      }
    } finally {
      admin.disconnect();
      await own.stop();
    }
  });

  test('ttlMs bounds how long a hash is served from memory even with no invalidation', T, async () => {
    const short = createRedisFeatureStore({ url: redis.url, clientCache: { ttlMs: 50 } });
    try {
      await short.getMany(['user:9']);
      const before = await hgetallCalls(direct);
      await short.getMany(['user:9']);
      assert.equal(await hgetallCalls(direct), before, 'held');
      await sleep(80);
      await short.getMany(['user:9']);
      assert.equal(await hgetallCalls(direct), before + 1, 'expired: read again');
    } finally {
      await short.close();
    }
  });

  test('Redis restarted with other data: nothing cached before the restart is served after it', T, async () => {
    let own = await startRedis();
    const s = createRedisFeatureStore({ url: own.url, clientCache: {} });
    try {
      await s.setMany([['user:1', { age: 1 }]]);
      assert.deepEqual(await s.getMany(['user:1']), [{ age: 1 }]);
      assert.deepEqual(await s.getMany(['user:1']), [{ age: 1 }], 'held');
      await own.stop();
      await until(async () => s.clientCache!.size, (n) => n === 0);
      own = await startRedis({ port: own.port });
      const admin = new Redis(own.url);
      try {
        await admin.hset('user:1', { age: '2' });
      } finally {
        admin.disconnect();
      }
      await until(() => s.getMany(['user:1']), ([h]) => h?.['age'] === 2, 5_000);
    } finally {
      await s.close();
      await own.stop();
    }
  });
});
