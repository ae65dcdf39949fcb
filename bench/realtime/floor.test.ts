// bench/realtime's hand-written floor does the job omniserve does: on the same Redis data,
// its answers to random requests equal `omniserve serve`'s, so its req/s is a fair yardstick.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startRedis, type RedisServer } from '../../test/support/redis-server.ts';
import { seedRedis } from './seed-redis.ts';
import { ROOT, startServer, type RunningServer } from './servers.ts';

let redis: RedisServer;
let dir: string;
let floor: RunningServer;
let omniserve: RunningServer;

before(async () => {
  redis = await startRedis();
  await seedRedis(redis.url, { users: 200, items: 50 });
  dir = mkdtempSync(join(tmpdir(), 'omniserve-floor-'));
  const config = join(dir, 'omniserve.json');
  writeFileSync(config, JSON.stringify({
    models: [{ path: join(ROOT, 'test', 'fixtures', 'models', 'breast-cancer.onnx') }],
    featureStore: { kind: 'redis', url: redis.url },
    cache: { kind: 'none' },
  }));
  [floor, omniserve] = await Promise.all([startServer('node', { kind: 'floor', redis: redis.url }), startServer('node', { kind: 'omniserve', config })]);
});

after(async () => {
  await Promise.all([floor?.stop(), omniserve?.stop()]);
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const post = async (url: string, body: string) => {
  const res = await fetch(`${url}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return { status: res.status, json: await res.json() as Record<string, unknown> };
};

test('the floor answers as omniserve does, concurrent requests batched', async () => {
  const bodies = Array.from({ length: 40 }, (_, i) => JSON.stringify({ user_id: (i * 37) % 200, item_id: (i * 11) % 50 }));
  // Concurrent, so the floor's batches hold several rows (a row mixed up within a batch would show).
  const [mine, theirs] = await Promise.all([floor, omniserve].map((s) => Promise.all(bodies.map((b) => post(s.url, b)))));
  const probabilities = new Set<unknown>();
  for (let i = 0; i < bodies.length; i++) {
    const a = mine![i]!;
    const b = theirs![i]!;
    assert.equal(a.status, 200, bodies[i]);
    assert.equal(b.status, 200, bodies[i]);
    for (const k of ['prediction', 'probability', 'label', 'model', 'model_version', 'cached', 'features_used']) {
      assert.deepEqual(a.json[k], b.json[k], `${k} of ${bodies[i]}`);
    }
    assert.equal(typeof a.json['latency_ms'], 'number');
    probabilities.add(a.json['probability']);
  }
  // Different rows score differently: the comparison above compared real work.
  assert.ok(probabilities.size > 10, `${probabilities.size} distinct probabilities`);
});

test('the floor refuses what omniserve refuses: an unknown user, a hash lacking a feature, a mistyped id; both take a string id', async () => {
  const client = await import('ioredis').then(({ Redis }) => new Redis(redis.url));
  try {
    assert.equal(await client.hdel('user:5', 'mean_radius'), 1);
  } finally {
    client.disconnect();
  }
  for (const [body, status] of [[{ user_id: 999_999, item_id: 3 }, 404], [{ user_id: 5, item_id: 3 }, 422], [{ user_id: [7], item_id: 3 }, 422], [{ user_id: '7', item_id: 3 }, 200]] as const) {
    const [mine, theirs] = await Promise.all([floor, omniserve].map((s) => post(s.url, JSON.stringify(body))));
    assert.equal(theirs!.status, status, JSON.stringify(theirs!.json));
    assert.equal(mine!.status, status, JSON.stringify(body));
  }
});
