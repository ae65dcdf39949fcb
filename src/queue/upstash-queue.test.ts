// The Upstash REST intake against a real Redis through `omniserve redis-rest`: what it
// submits, the TCP driver reads and claims; counts and idempotency agree between the two.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startRedis, type RedisServer } from '../../test/support/redis-server.ts';
import { startRedisRestGateway, type RedisRestGateway } from '../../runtimes/native/redis-rest.ts';
import { createRedisQueue, type RedisJobQueue } from '../../runtimes/native/redis-queue.ts';
import { isOmniserveError } from '../errors.ts';
import { createUpstashQueue, type UpstashJobIntake } from './upstash-queue.ts';

describe('upstash queue intake', { timeout: 60_000 }, () => {
  let redis: RedisServer;
  let gateway: RedisRestGateway;
  let edge: UpstashJobIntake;
  let tcp: RedisJobQueue;
  before(async () => {
    redis = await startRedis();
    gateway = await startRedisRestGateway({ redisUrl: redis.url, token: 'tok' });
    edge = createUpstashQueue({ url: gateway.url, token: 'tok', prefix: 'q1:' });
    tcp = createRedisQueue({ url: redis.url, prefix: 'q1:' });
  });
  after(async () => {
    await tcp?.close();
    await gateway?.close();
    await redis?.stop();
  });

  test('submitted at the edge, claimed and completed over TCP, read back at the edge', async () => {
    assert.deepEqual(await edge.stats(), { depth: 0, oldestAgeMs: 0 });
    const a = await edge.submit({ model: 'm', request: { user_id: 7 } }, { idempotencyKey: 'k1' });
    const b = await edge.submit({ model: 'm', version: '2', request: { features: { x: 1 } } });
    const again = await edge.submit({ model: 'm', request: { user_id: 8 } }, { idempotencyKey: 'k1' });
    assert.deepEqual(again, { request_id: a.request_id, duplicate: true });
    assert.equal(a.duplicate, false);
    const s = await edge.stats();
    assert.equal(s.depth, 2);
    assert.ok(s.oldestAgeMs >= 0 && s.oldestAgeMs < 10_000, `oldest ${s.oldestAgeMs} ms`);
    const seen = await edge.get(b.request_id);
    assert.deepEqual(seen, await tcp.get(b.request_id), 'both drivers read the same record');
    assert.equal(seen?.status, 'pending');
    assert.equal(seen?.version, '2');
    const claimed = await tcp.claim('w1', 10, { blockMs: 100 });
    assert.deepEqual(claimed.jobs.map((j) => j.job.request_id).sort(), [a.request_id, b.request_id].sort());
    for (const c of claimed.jobs) await tcp.complete(c, { ok: c.job.request_id });
    const done = await edge.get(a.request_id);
    assert.equal(done?.status, 'completed');
    assert.deepEqual(done?.result, { ok: a.request_id });
    assert.equal((await edge.stats()).depth, 0);
    assert.equal(await edge.get('nope'), undefined);
  });

  test('an unreachable REST endpoint is QUEUE_UNAVAILABLE; a bad url is INVALID_CONFIG', async () => {
    const down = createUpstashQueue({ url: 'http://127.0.0.1:9', token: 'tok', timeoutMs: 500 });
    await assert.rejects(down.submit({ model: 'm', request: {} }), (e) => isOmniserveError(e) && e.code === 'QUEUE_UNAVAILABLE');
    assert.throws(() => createUpstashQueue({ url: 'ftp://x', token: 't' }), (e) => isOmniserveError(e) && e.code === 'INVALID_CONFIG');
  });
});
