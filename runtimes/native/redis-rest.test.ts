/**
 * The Upstash-compatible gateway against a real redis-server, driven by the real
 * @upstash/redis client, and the Upstash feature store driver through it.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { Redis as Upstash, type RedisConfigNodejs } from '@upstash/redis';
import { Redis } from 'ioredis';
import { isOmniserveError } from '../../src/errors.ts';
import { createUpstashFeatureStore } from '../../src/features/upstash-store.ts';
import { freePort } from '../../test/support/free-port.ts';
import { startRedis, type RedisServer } from '../../test/support/redis-server.ts';
import { redisRestCommand } from './redis-rest-cli.ts';
import { startRedisRestGateway, type RedisRestGateway } from './redis-rest.ts';

const T = { timeout: 30_000 };
const TOKEN = 'test-token-0123456789';

describe('redis-rest gateway', { timeout: 120_000 }, () => {
  let redis: RedisServer;
  let gateway: RedisRestGateway;
  let direct: Redis;

  before(async () => {
    redis = await startRedis();
    gateway = await startRedisRestGateway({ redisUrl: redis.url, token: TOKEN });
    direct = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  });
  after(async () => {
    direct?.disconnect();
    await gateway?.close();
    await redis?.stop();
  });

  const client = (opts: Omit<RedisConfigNodejs, 'url' | 'token'> = {}) =>
    new Upstash({ url: gateway.url, token: TOKEN, enableTelemetry: false, ...opts });

  test('set/get/del/incr/expire round trip through the real client (base64 encoding)', T, async () => {
    const r = client();
    assert.equal(await r.set('greeting', 'héllo wörld ✓'), 'OK');
    assert.equal(await r.get('greeting'), 'héllo wörld ✓');
    assert.equal(await direct.get('greeting'), 'héllo wörld ✓', 'the gateway wrote to the real Redis');
    assert.equal(await r.get('absent'), null);
    assert.equal(await r.incr('counter'), 1);
    assert.equal(await r.incrby('counter', 41), 42);
    assert.equal(await r.expire('counter', 100), 1);
    const ttl = await r.ttl('counter');
    assert.ok(ttl > 90 && ttl <= 100, `ttl ${ttl}`);
    assert.equal(await r.del('greeting', 'counter'), 2);
    assert.equal(await direct.exists('greeting'), 0);
  });

  test('JSON values round trip as the client serialises them', T, async () => {
    const r = client();
    await r.set('obj', { a: 1, b: ['x', 'y'] });
    assert.deepEqual(await r.get('obj'), { a: 1, b: ['x', 'y'] });
  });

  test('hset/hgetall, with and without base64 response encoding', T, async () => {
    const r = client();
    assert.equal(await r.hset('user:1', { name: 'ada', age: 36, score: '0.5' }), 3);
    assert.deepEqual(await r.hgetall('user:1'), { name: 'ada', age: 36, score: '0.5' });
    assert.equal(await r.hgetall('user:missing'), null);
    const plain = client({ responseEncoding: false, automaticDeserialization: false });
    assert.deepEqual(await plain.hgetall('user:1'), ['name', 'ada', 'age', '36', 'score', '0.5']);
  });

  test('pipeline: one request, results in order, per-command errors kept', T, async () => {
    const r = client({ enableAutoPipelining: false });
    const before = gateway.stats.requests;
    const results = await r.pipeline().set('p:a', 'A').incr('p:n').get('p:a').hgetall('p:missing').exec();
    assert.deepEqual(results, ['OK', 1, 'A', null]);
    assert.equal(gateway.stats.requests - before, 1);
    const kept = await r.pipeline().incr('p:a').get('p:a').exec({ keepErrors: true });
    assert.match(String(kept[0]!.error), /not an integer/);
    assert.equal(kept[1]!.result, 'A');
  });

  test('multi-exec is a transaction', T, async () => {
    const r = client({ enableAutoPipelining: false });
    const results = await r.multi().set('tx:a', '1').incr('tx:a').get('tx:a').exec();
    assert.deepEqual(results, ['OK', 2, 2]);
    // A command Redis refuses to queue aborts the whole transaction: nothing is written.
    const res = await fetch(`${gateway.url}/multi-exec`, {
      method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: JSON.stringify([['set', 'tx:b', 'x'], ['set', 'tx:b']]),
    });
    assert.equal(res.status, 400);
    assert.match((await res.json()).error, /EXECABORT/);
    assert.equal(await direct.exists('tx:b'), 0);
  });

  test('streams: XADD, XGROUP, XREADGROUP (blocking, on its own connection), XACK', T, async () => {
    const r = client({ automaticDeserialization: false, enableAutoPipelining: false });
    assert.equal(await r.xgroup('jobs', { type: 'CREATE', group: 'workers', id: '$', options: { MKSTREAM: true } }), 'OK');
    const id = await r.xadd('jobs', '*', { model: 'demo', input: '[1,2,3]' });
    assert.match(String(id), /^\d+-\d+$/);
    const read = (await r.xreadgroup('workers', 'w1', 'jobs', '>', { count: 10, blockMS: 1_000 })) as unknown[];
    assert.deepEqual(read, [['jobs', [[id, ['model', 'demo', 'input', '[1,2,3]']]]]]);
    assert.equal(await r.xack('jobs', 'workers', String(id)), 1);
    // A read that blocks must not stall other clients' commands.
    const blocked = r.xreadgroup('workers', 'w2', 'jobs', '>', { count: 1, blockMS: 1_500 });
    const t0 = performance.now();
    assert.equal(await client().get('absent'), null);
    assert.ok(performance.now() - t0 < 1_000, 'a GET waited behind a blocking XREADGROUP');
    assert.equal(await blocked, null);
  });

  test('path-style GET and Redis errors as {error} with 400', T, async () => {
    await direct.set('path:key', 'v a l');
    const auth = { authorization: `Bearer ${TOKEN}` };
    const res = await fetch(`${gateway.url}/get/path:key`, { headers: auth });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { result: 'v a l' });
    const b64 = await fetch(`${gateway.url}/get/path:key`, { headers: { ...auth, 'Upstash-Encoding': 'base64' } });
    assert.deepEqual(await b64.json(), { result: Buffer.from('v a l').toString('base64') });
    const bad = await fetch(gateway.url, { method: 'POST', headers: auth, body: JSON.stringify(['incr', 'path:key']) });
    assert.equal(bad.status, 400);
    assert.match((await bad.json()).error, /not an integer/);
    await direct.hset('path:hash', { f: 'v' });
    const hash = await fetch(`${gateway.url}/hgetall/path:hash`, { headers: auth });
    assert.deepEqual(await hash.json(), { result: ['f', 'v'] }, 'RESP2 flat array, as Upstash answers');
    const set = await fetch(`${gateway.url}/set/path:set`, { method: 'POST', headers: auth, body: 'from body' });
    assert.deepEqual(await set.json(), { result: 'OK' });
    assert.equal(await direct.get('path:set'), 'from body');
    for (const refused of [fetch(gateway.url, { method: 'POST', headers: auth, body: JSON.stringify(['multi']) }), fetch(`${gateway.url}/subscribe/ch`, { headers: auth })]) {
      const res = await refused;
      assert.equal(res.status, 400);
      assert.match((await res.json()).error, /not supported over REST/);
    }
    await assert.rejects(client({ enableAutoPipelining: false }).incr('path:key'), /not an integer/);
  });

  test('a wrong or missing token is 401 with a JSON error', T, async () => {
    const res = await fetch(gateway.url, { method: 'POST', headers: { authorization: 'Bearer nope' }, body: '["PING"]' });
    assert.equal(res.status, 401);
    assert.deepEqual(await res.json(), { error: 'Unauthorized' });
    assert.equal((await fetch(`${gateway.url}/ping`)).status, 401);
    await assert.rejects(new Upstash({ url: gateway.url, token: 'wrong', enableTelemetry: false }).get('k'), /Unauthorized/);
  });

  describe('Upstash feature store through the gateway', () => {
    test('getMany: hits, misses, order, values as strings', T, async () => {
      const store = createUpstashFeatureStore({ url: gateway.url, token: TOKEN });
      await direct.hset('user:10', { age: '41', plan: 'pro' });
      await direct.hset('item:3', { price: '9.5' });
      const got = await store.getMany(['item:3', 'user:404', 'user:10']);
      assert.deepEqual(got, [{ price: '9.5' }, null, { age: '41', plan: 'pro' }]);
      assert.deepEqual(await store.getMany([]), []);
      assert.equal(await store.ping(), true);
    });

    test('setMany replaces hashes (null fields dropped, booleans as 1/0)', T, async () => {
      const store = createUpstashFeatureStore({ url: gateway.url, token: TOKEN });
      await direct.hset('user:20', { stale: 'x' });
      await store.setMany([['user:20', { a: 1, b: 'two', c: null, d: true }], ['user:21', { z: 0 }]]);
      assert.deepEqual(await direct.hgetall('user:20'), { a: '1', b: 'two', d: '1' });
      assert.deepEqual(await store.getMany(['user:21']), [{ z: '0' }]);
    });

    test('64 concurrent getMany calls make one pipeline request', T, async () => {
      const store = createUpstashFeatureStore({ url: gateway.url, token: TOKEN });
      const entries = Array.from({ length: 100 }, (_, i) => [`user:c${i}`, { i }] as const);
      await store.setMany(entries);
      const before = gateway.stats.requests;
      const calls = Array.from({ length: 64 }, (_, c) => store.getMany([`user:c${c}`, `user:c${c + 1}`, 'user:none']));
      const results = await Promise.all(calls);
      assert.equal(gateway.stats.requests - before, 1, 'one HTTP request for all 64 calls');
      assert.equal(store.stats.flushes, 1);
      results.forEach((r, c) => assert.deepEqual(r, [{ i: String(c) }, { i: String(c + 1) }, null]));
    });

    test('a key holding a non-hash fails only the calls that asked for it', T, async () => {
      const store = createUpstashFeatureStore({ url: gateway.url, token: TOKEN });
      await direct.set('user:str', 'not a hash');
      const [bad, good] = await Promise.allSettled([store.getMany(['user:str']), store.getMany(['user:10'])]);
      assert.equal(bad.status, 'rejected');
      assert.ok(isOmniserveError((bad as PromiseRejectedResult).reason, 'FEATURE_STORE_UNAVAILABLE'));
      assert.deepEqual((good as PromiseFulfilledResult<unknown>).value, [{ age: '41', plan: 'pro' }]);
    });

    test('clientCache: a hash read once is not asked again for ttlMs (a write elsewhere shows after it); setMany is seen at once', T, async () => {
      const store = createUpstashFeatureStore({ url: gateway.url, token: TOKEN, clientCache: { ttlMs: 300 } });
      await direct.hset('user:cc', { age: '1' });
      assert.deepEqual(await store.getMany(['user:cc', 'user:cc-missing']), [{ age: '1' }, null]);
      const before = gateway.stats.requests;
      await direct.hset('user:cc', { age: '2' });
      assert.deepEqual(await store.getMany(['user:cc', 'user:cc-missing']), [{ age: '1' }, null], 'held: REST has no invalidation');
      assert.equal(gateway.stats.requests, before, 'no request to the gateway');
      await new Promise((r) => setTimeout(r, 350));
      assert.deepEqual(await store.getMany(['user:cc']), [{ age: '2' }], 'read again after ttlMs');
      await store.setMany([['user:cc', { age: 3 }]]);
      assert.deepEqual(await store.getMany(['user:cc']), [{ age: '3' }], 'our own write at once');
      assert.deepEqual({ hits: store.clientCache!.stats.hits, misses: store.clientCache!.stats.misses }, { hits: 2, misses: 4 });
    });

    test('unreachable gateway or wrong token → FEATURE_STORE_UNAVAILABLE, fast', T, async () => {
      const port = await freePort();
      const down = createUpstashFeatureStore({ url: `http://127.0.0.1:${port}`, token: TOKEN });
      const t0 = performance.now();
      await assert.rejects(down.getMany(['user:1']), (e) => isOmniserveError(e, 'FEATURE_STORE_UNAVAILABLE'));
      assert.ok(performance.now() - t0 < 1_000, `took ${performance.now() - t0} ms`);
      assert.equal(await down.ping(), false);
      const wrong = createUpstashFeatureStore({ url: gateway.url, token: 'wrong' });
      await assert.rejects(wrong.getMany(['user:1']), (e) => isOmniserveError(e, 'FEATURE_STORE_UNAVAILABLE') && /Unauthorized/.test(e.message));
    });
  });

  test('Redis gone behind the gateway: 503 with a JSON error', T, async () => {
    const own = await startRedis();
    const gw = await startRedisRestGateway({ redisUrl: own.url, token: TOKEN });
    try {
      const r = new Upstash({ url: gw.url, token: TOKEN, enableTelemetry: false, enableAutoPipelining: false });
      assert.equal(await r.set('k', 'v'), 'OK');
      await own.stop();
      const res = await fetch(gw.url, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: '["GET","k"]' });
      assert.equal(res.status, 503);
      assert.match((await res.json()).error, /Redis unavailable/);
    } finally {
      await gw.close();
      await own.stop();
    }
  });

  test('redisRestCommand prints its url, serves, and stops on abort', T, async () => {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const stop = new AbortController();
    const exit = redisRestCommand(['--port', '0', '--token', 'cli-token'], {
      stdout, stderr, env: { REDIS_URL: redis.url }, signal: stop.signal,
    });
    const line = await new Promise<string>((resolve) => stdout.once('data', (d) => resolve(String(d))));
    const { url } = JSON.parse(line) as { url: string };
    assert.equal(await new Upstash({ url, token: 'cli-token', enableTelemetry: false }).ping(), 'PONG');
    stop.abort();
    assert.equal(await exit, 0);
    await assert.rejects(fetch(url), 'the server is closed after abort');
    assert.equal(await redisRestCommand(['--port', 'x'], { stdout, stderr }), 2);
  });
});
