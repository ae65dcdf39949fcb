// The Redis Streams job queue against the shared queue suite, on a real redis-server.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type RedisServer } from '../../test/support/redis-server.ts';
import { runQueueCases } from '../../test/async/queue.case.ts';
import { createRedisQueue, type RedisJobQueue } from './redis-queue.ts';

describe('redis job queue', { timeout: 120_000 }, () => {
  let redis: RedisServer;
  let n = 0;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  // Each case gets its own key prefix: one server, independent queues.
  runQueueCases({
    newQueue: async (s) => createRedisQueue({ url: redis.url, prefix: `t${++n}:`, ...s }),
    deadIds: async (q) => {
      const r = q as RedisJobQueue;
      const entries = await r.client.xrange(r.keys.dead, '-', '+');
      return entries.map(([, f]) => f[f.indexOf('id') + 1]!);
    },
  });

  test('records are hashes with a TTL; acked entries leave the stream', { timeout: 10_000 }, async () => {
    const q = createRedisQueue({ url: redis.url, prefix: 'ttl:', ttlSeconds: 100 });
    try {
      const { request_id } = await q.submit({ model: 'm', request: { user_id: 1 } });
      const ttl = await q.client.ttl(q.keys.job(request_id));
      assert.ok(ttl > 90 && ttl <= 100, `ttl ${ttl}`);
      const got = await q.claim('a', 1, { blockMs: 100 });
      await q.complete(got.jobs[0]!, { p: 1 });
      assert.equal(await q.client.xlen(q.keys.stream), 0);
      const pending = (await q.client.xpending(q.keys.stream, 'omniserve-workers')) as unknown[];
      assert.equal(pending[0], 0, 'nothing pending');
    } finally {
      await q.close();
    }
  });

  test('Redis down: submit fails fast with QUEUE_UNAVAILABLE', { timeout: 20_000 }, async () => {
    const other = await startRedis();
    const q = createRedisQueue({ url: other.url, prefix: 'down:' });
    try {
      await q.submit({ model: 'm', request: { user_id: 1 } });
      await other.stop();
      const t0 = Date.now();
      await assert.rejects(q.submit({ model: 'm', request: { user_id: 2 } }), (e: Error & { code?: string }) => e.code === 'QUEUE_UNAVAILABLE');
      assert.ok(Date.now() - t0 < 3_000, `${Date.now() - t0} ms`);
    } finally {
      await q.close();
    }
  });
});
