// `omniserve serve` (Node) over a real redis-server: features from Redis hashes, predictions
// cached in Redis, the same through the Upstash REST gateway, and a Redis outage: fast 503s
// and a degraded /health, then healing once Redis is back on the same port.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startRedisRestGateway, type RedisRestGateway } from '../../runtimes/native/redis-rest.ts';
import { startRedis, type RedisServer } from '../support/redis-server.ts';
import { ROOT, SERVE_HOSTS, startServe, type ServeProcess } from '../support/serve-process.ts';
import { bc, FEATURES, wantProbability } from '../support/golden.ts';

/** User i is golden row i % 32. */
const want = wantProbability;
const USERS = 100;
const NODE = SERVE_HOSTS.find((h) => h.name === 'node')!;
const TOKEN = 'rest-token-for-tests';

type Json = Record<string, unknown>;
async function post(base: string, path: string, body: unknown, timeoutMs = 10_000): Promise<{ status: number; json: Json; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(`${base}${path}`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs),
  });
  const json = (await res.json()) as Json;
  return { status: res.status, json, ms: performance.now() - t0 };
}
async function getJson(base: string, path: string): Promise<{ status: number; json: Json; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, json: (await res.json()) as Json, ms: performance.now() - t0 };
}

/**
 * HSETs `user:{i}` (the first 20 features of golden row i % 32, plus its own `uid` so every
 * user's record, and so its cache key, is distinct) and `item:{i}` (the other 10).
 */
async function loadHashes(url: string): Promise<void> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    const p = client.pipeline();
    for (let i = 0; i < USERS; i++) {
      const r = bc.records[i % 32]!;
      p.hset(`user:${i}`, { ...Object.fromEntries(FEATURES.slice(0, 20).map((f) => [f, String(r[f])])), uid: String(i) });
      p.hset(`item:${i}`, Object.fromEntries(FEATURES.slice(20).map((f) => [f, String(r[f])])));
    }
    const results = await p.exec();
    assert.ok(results?.every(([err]) => err === null), 'every HSET succeeded');
  } finally {
    client.disconnect();
  }
}

function assertGolden(a: { status: number; json: Json }, i: number): void {
  assert.equal(a.status, 200, `user ${i}: ${JSON.stringify(a.json)}`);
  const p = a.json['probability'];
  assert.ok(typeof p === 'number' && Math.abs(p - want(i)) <= 1e-4, `user ${i}: probability ${String(p)}, expected ${want(i)}`);
  assert.deepEqual(a.json['features_used'], FEATURES);
}

describe('omniserve serve with Redis and Upstash REST', { timeout: 120_000 }, () => {
  let tmp: string;
  let redis: RedisServer;
  let server: ServeProcess | undefined;
  let upstashServer: ServeProcess | undefined;
  let gateway: RedisRestGateway | undefined;

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'omniserve-serve-redis-'));
    redis = await startRedis();
    await loadHashes(redis.url);
    const write = (name: string, cfg: unknown) => {
      writeFileSync(join(tmp, name), JSON.stringify(cfg));
      return join(tmp, name);
    };
    const models = [{ path: join(ROOT, 'test/fixtures/models/breast-cancer.onnx') }];
    const server1 = write('redis.json', {
      server: { port: 0, host: '127.0.0.1', drainTimeoutMs: 3_000 },
      models,
      featureStore: { kind: 'redis', url: redis.url },
      cache: { kind: 'redis', url: redis.url, ttlMs: 60_000 },
    });
    gateway = await startRedisRestGateway({ redisUrl: redis.url, token: TOKEN });
    const server2 = write('upstash.json', {
      server: { port: 0, host: '127.0.0.1', drainTimeoutMs: 3_000 },
      models,
      featureStore: { kind: 'upstash', url: gateway.url, token: TOKEN },
    });
    [server, upstashServer] = await Promise.all([startServe(NODE, server1), startServe(NODE, server2)]);
  });
  after(async () => {
    await Promise.all([server?.stop(3_000), upstashServer?.stop(3_000)]);
    await gateway?.close();
    await redis?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('redis store + redis cache: 100 users score as the goldens', { timeout: 30_000 }, async () => {
    const answers = await Promise.all(Array.from({ length: USERS }, (_, i) => post(server!.url, '/predict', { user_id: i, item_id: i })));
    answers.forEach((a, i) => {
      assertGolden(a, i);
      assert.equal(a.json['cached'], false, `user ${i} is new`);
    });
  });

  test('a repeat is a cache hit, held in Redis under the version\'s key', { timeout: 30_000 }, async () => {
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => post(server!.url, '/predict', { user_id: i * 7, item_id: i * 7 })));
    answers.forEach((a, k) => {
      assertGolden(a, k * 7);
      assert.equal(a.json['cached'], true, `user ${k * 7} came from the cache`);
    });
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      const keys = await client.keys('pred:*');
      assert.equal(keys.length, USERS, 'one entry per distinct record');
      assert.ok(keys.every((k) => k.startsWith('pred:breast-cancer:1:')), keys.slice(0, 3).join(', '));
      const ttl = await client.pttl(keys[0]!);
      assert.ok(ttl > 0 && ttl <= 60_000, `ttl ${ttl}`);
    } finally {
      client.disconnect();
    }
    const metrics = await (await fetch(`${server!.url}/metrics`)).text();
    assert.match(metrics, /omniserve_cache_hits_total\{model="breast-cancer"\} 10\b/);
    assert.match(metrics, /omniserve_cache_misses_total\{model="breast-cancer"\} 100\b/);
  });

  test('/health names the redis store and cache', { timeout: 10_000 }, async () => {
    const h = await getJson(server!.url, '/health');
    assert.equal(h.status, 200, JSON.stringify(h.json));
    assert.equal(h.json['status'], 'healthy');
    assert.deepEqual(h.json['feature_store'], { kind: 'redis', ok: true });
    assert.equal(h.json['cache'], 'redis');
  });

  test('upstash store through the REST gateway: the same golden answers', { timeout: 30_000 }, async () => {
    const before = gateway!.stats.requests;
    const users = [0, 1, 13, 31, 32, 50, 99];
    const answers = await Promise.all(users.map((i) => post(upstashServer!.url, '/predict', { user_id: i, item_id: i })));
    answers.forEach((a, k) => assertGolden(a, users[k]!));
    assert.ok(gateway!.stats.requests > before, 'the gateway was asked');
    assert.equal(gateway!.stats.unauthorized, 0);
    const missing = await post(upstashServer!.url, '/predict', { user_id: 'ghost' });
    assert.equal(missing.status, 404, JSON.stringify(missing.json));
    assert.equal(missing.json['code'], 'ENTITY_NOT_FOUND');
    const h = await getJson(upstashServer!.url, '/health');
    assert.equal(h.status, 200, JSON.stringify(h.json));
    assert.deepEqual(h.json['feature_store'], { kind: 'upstash', ok: true });
  });

  test('Redis stops: /predict → 503 FEATURE_STORE_UNAVAILABLE in < 2 s, /health degraded; direct features still score', { timeout: 30_000 }, async () => {
    await redis.stop();
    // Twice: the first call may meet the connection as it drops, the second the outage itself.
    for (const round of [1, 2]) {
      const a = await post(server!.url, '/predict', { user_id: 3, item_id: 3 }, 5_000);
      assert.equal(a.status, 503, `round ${round}: ${JSON.stringify(a.json)}`);
      assert.equal(a.json['code'], 'FEATURE_STORE_UNAVAILABLE');
      assert.ok(a.ms < 2_000, `round ${round}: answered in ${Math.round(a.ms)} ms`);
      assert.doesNotMatch(String(a.json['error']), /\n\s+at /);
    }
    const h = await getJson(server!.url, '/health');
    assert.equal(h.status, 503, JSON.stringify(h.json));
    assert.equal(h.json['status'], 'degraded');
    assert.deepEqual(h.json['feature_store'], { kind: 'redis', ok: false });
    assert.ok(h.ms < 2_000, `/health answered in ${Math.round(h.ms)} ms`);
    // The cache is down too, but a cache never fails a request.
    const direct = await post(server!.url, '/predict', { features: bc.records[6] }, 5_000);
    assert.equal(direct.status, 200, JSON.stringify(direct.json));
    assert.ok(Math.abs((direct.json['probability'] as number) - want(6)) <= 1e-4);
    assert.ok(direct.ms < 2_000, `direct features answered in ${Math.round(direct.ms)} ms`);
    const rest = await post(upstashServer!.url, '/predict', { user_id: 3, item_id: 3 }, 5_000);
    assert.equal(rest.status, 503, JSON.stringify(rest.json));
    assert.equal(rest.json['code'], 'FEATURE_STORE_UNAVAILABLE');
    assert.ok(rest.ms < 3_000, `upstash outage answered in ${Math.round(rest.ms)} ms`);
  });

  test('Redis back on the same port: 200 again, /health healthy', { timeout: 30_000 }, async () => {
    redis = await startRedis({ port: redis.port });
    await loadHashes(redis.url);
    const deadline = Date.now() + 10_000;
    let last: { status: number; json: Json } | undefined;
    while (Date.now() < deadline) {
      last = await post(server!.url, '/predict', { user_id: 8, item_id: 8 }, 5_000);
      if (last.status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assertGolden(last!, 8);
    const h = await getJson(server!.url, '/health');
    assert.equal(h.status, 200, JSON.stringify(h.json));
    assert.equal(h.json['status'], 'healthy');
    const answers = await Promise.all([0, 40, 77].map((i) => post(server!.url, '/predict', { user_id: i, item_id: i })));
    answers.forEach((a, k) => assertGolden(a, [0, 40, 77][k]!));
    let rest: { status: number; json: Json } | undefined;
    while (Date.now() < deadline) {
      rest = await post(upstashServer!.url, '/predict', { user_id: 8, item_id: 8 }, 5_000);
      if (rest.status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assertGolden(rest!, 8);
  });
});

/** HSETs `user:{id}` and `item:{id}` with golden row `row`'s features. */
async function setEntity(client: Redis, id: number, row: number): Promise<void> {
  const r = bc.records[row]!;
  await client.hset(`user:${id}`, Object.fromEntries(FEATURES.slice(0, 20).map((f) => [f, String(r[f])])));
  await client.hset(`item:${id}`, Object.fromEntries(FEATURES.slice(20).map((f) => [f, String(r[f])])));
}

// The client-side feature cache on every host: the reader's invalidation subscriber runs on
// node:net as Node, Bun and Deno each provide it.
describe('omniserve serve with the Redis clientCache, on every host', { timeout: 180_000 }, () => {
  let tmp: string;
  let redis: RedisServer;
  let client: Redis;
  let config: string;

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'omniserve-serve-client-cache-'));
    redis = await startRedis();
    client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    config = join(tmp, 'client-cache.json');
    writeFileSync(config, JSON.stringify({
      server: { port: 0, host: '127.0.0.1', drainTimeoutMs: 3_000 },
      models: [{ path: join(ROOT, 'test/fixtures/models/breast-cancer.onnx') }],
      featureStore: { kind: 'redis', url: redis.url, clientCache: { ttlMs: 600_000 } },
    }));
  });
  after(async () => {
    client?.disconnect();
    await redis?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  for (const host of SERVE_HOSTS) {
    test(`${host.name}: repeats are served from memory; an HSET changes the next answers within a second`, { timeout: 60_000 }, async () => {
      const id = 1_000 + SERVE_HOSTS.indexOf(host);
      await setEntity(client, id, 13);
      const served = await startServe(host, config);
      try {
        for (let k = 0; k < 5; k++) {
          const a = await post(served.url, '/predict', { user_id: id, item_id: id });
          assert.equal(a.status, 200, JSON.stringify(a.json));
          assert.ok(Math.abs((a.json['probability'] as number) - want(13)) <= 1e-4);
        }
        let metrics = await (await fetch(`${served.url}/metrics`)).text();
        assert.match(metrics, /^omniserve_feature_cache_hits_total 8$/m, 'two hashes a request, four repeats');
        assert.match(metrics, /^omniserve_feature_cache_misses_total 2$/m);
        await setEntity(client, id, 1);
        const t0 = performance.now();
        for (;;) {
          const a = await post(served.url, '/predict', { user_id: id, item_id: id });
          assert.equal(a.status, 200, JSON.stringify(a.json));
          if (Math.abs((a.json['probability'] as number) - want(1)) <= 1e-4) break;
          assert.ok(performance.now() - t0 < 1_000, `still the old answer after ${Math.round(performance.now() - t0)} ms`);
          await new Promise((r) => setTimeout(r, 10));
        }
        metrics = await (await fetch(`${served.url}/metrics`)).text();
        assert.match(metrics, /^omniserve_feature_cache_misses_total [4-9]$/m, 'both hashes read again');
      } finally {
        await served.stop(3_000);
      }
    });
  }
});
