/**
 * The Redis prediction cache against a real redis-server: PX TTLs, and an outage that
 * turns into misses rather than failed requests.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort } from '../../test/support/free-port.ts';
import { startRedis } from '../../test/support/redis-server.ts';
import { createRedisCache } from './redis-cache.ts';

const T = { timeout: 30_000 };

describe('redis prediction cache', { timeout: 60_000 }, () => {
  test('set stores JSON with a PX TTL; get reads it back until it expires', T, async () => {
    const redis = await startRedis();
    const cache = createRedisCache({ url: redis.url, keyPrefix: 'omni:' });
    const direct = new Redis(redis.url);
    try {
      assert.equal(cache.kind, 'redis');
      await cache.set('pred:m:1:abc', { prediction: 1, probability: 0.75 }, 300);
      assert.deepEqual(await cache.get('pred:m:1:abc'), { prediction: 1, probability: 0.75 });
      assert.equal(await direct.get('omni:pred:m:1:abc'), '{"prediction":1,"probability":0.75}');
      const pttl = await direct.pttl('omni:pred:m:1:abc');
      assert.ok(pttl > 0 && pttl <= 300, `PTTL ${pttl}`);
      assert.equal(await cache.get('pred:absent'), undefined);
      await cache.set('zero', 1, 0);
      assert.equal(await direct.exists('omni:zero'), 0, 'ttl 0 stores nothing');
      await sleep(350);
      assert.equal(await cache.get('pred:m:1:abc'), undefined, 'expired');
    } finally {
      direct.disconnect();
      await cache.close();
      await redis.stop();
    }
  });

  test('Redis down: get is a miss, set does not throw, one warning per outage; recovers', T, async () => {
    let redis = await startRedis();
    const logs: string[] = [];
    const cache = createRedisCache({ url: redis.url, log: (m) => logs.push(m) });
    try {
      await cache.set('k', 'v', 60_000);
      assert.equal(await cache.get('k'), 'v');
      await redis.stop();
      const t0 = performance.now();
      assert.equal(await cache.get('k'), undefined);
      await cache.set('k2', 'v2', 60_000);
      assert.equal(await cache.get('k2'), undefined);
      assert.ok(performance.now() - t0 < 1_000, `took ${Math.round(performance.now() - t0)} ms`);
      assert.equal(logs.length, 1, logs.join('\n'));
      assert.match(logs[0]!, /prediction cache.*serving without it/);

      redis = await startRedis({ port: redis.port });
      const deadline = Date.now() + 5_000;
      for (;;) {
        await cache.set('k3', 'v3', 60_000);
        if ((await cache.get('k3')) === 'v3') break;
        assert.ok(Date.now() < deadline, 'the cache did not come back after Redis restarted');
        await sleep(100);
      }
    } finally {
      await cache.close();
      await redis.stop();
    }
  });

  test('no Redis at all: misses, quickly', T, async () => {
    const cache = createRedisCache({ url: `redis://127.0.0.1:${await freePort()}`, log: () => {} });
    try {
      const t0 = performance.now();
      assert.equal(await cache.get('k'), undefined);
      await cache.set('k', 1, 1_000);
      assert.ok(performance.now() - t0 < 1_500, `took ${Math.round(performance.now() - t0)} ms`);
    } finally {
      await cache.close();
    }
  });
});
