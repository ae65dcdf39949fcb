/**
 * `omniserve stream` with feature-store enrichment (Redis, by `user_id`) and the model in a
 * worker-thread pool (`models[].workers`): events carry only some features, the rest come
 * from `user:<id>` hashes; outputs equal the in-process model on the whole row; an unknown
 * user (features missing) and an event without `user_id` are dead-lettered.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startKafkaBroker, type KafkaBroker } from '../support/kafka-broker.ts';
import { startRedis, type RedisServer } from '../support/redis-server.ts';
import { createRedisFeatureStore } from '../../runtimes/native/redis-store.ts';
import { createEngine } from '../../src/index.ts';
import { createNativeRuntime } from '../../runtimes/native/runtime.ts';
import { MODEL_PATH, ROWS, STREAM_HOSTS, collect, keyOf, parse, produce, quietKafka, startStream, until } from './stream-helpers.ts';

const USERS = 40;
/** Features the event carries itself; the others come from the store. */
const IN_EVENT = ['mean_radius', 'mean_texture', 'worst_area'];

describe('omniserve stream enrichment and worker pool', () => {
  let broker: KafkaBroker;
  let redis: RedisServer;
  before(async () => {
    [broker, redis] = await Promise.all([startKafkaBroker({ brokers: 1 }), startRedis()]);
  });
  after(async () => {
    await Promise.all([broker?.stop(), redis?.stop()]);
  });

  for (const host of STREAM_HOSTS) {
    const en = host === 'node' ? 'en' : `en-${host}`;

    test(`${host}: features joined from Redis by user_id, scored in 2 worker threads; unknown users dead-lettered`, { timeout: 60_000 }, async () => {
      for (const t of ['in', 'out', 'dlq']) await broker.createTopic(`${en}-${t}`, 4);
      const row = (u: number) => ROWS[u % ROWS.length]!;
      const store = createRedisFeatureStore({ url: redis.url });
      try {
        await store.setMany(Array.from({ length: USERS }, (_, u) => {
          const rest = Object.fromEntries(Object.entries(row(u)).filter(([k]) => !IN_EVENT.includes(k)));
          return [`user:${u}`, rest] as const;
        }));
      } finally {
        await store.close();
      }
      const n = 1_000;
      // Users 0..USERS-1 exist; every 100th event names user 999 (no hash), every 250th has no user_id.
      const userOf = (i: number) => (i % 100 === 50 ? 999 : i % USERS);
      const payload = (i: number) => {
        const own = Object.fromEntries(IN_EVENT.map((k) => [k, row(userOf(i))[k]]));
        return JSON.stringify(i % 250 === 3 ? { event_id: `e-${i}`, ...own } : { event_id: `e-${i}`, user_id: userOf(i), ...own });
      };
      const kafka = quietKafka(broker.brokers);
      const reader = await collect(kafka, [`${en}-out`, `${en}-dlq`], `${en}-reader`);
      await produce(kafka, `${en}-in`, Array.from({ length: n }, (_, i) => ({ key: keyOf(i), value: payload(i) })));

      const dir = mkdtempSync(join(tmpdir(), 'omniserve-stream-'));
      const config = join(dir, 'stream.json');
      writeFileSync(config, JSON.stringify({
        stream: {
          brokers: broker.brokers, groupId: `${en}-scorer`, inputTopic: `${en}-in`, outputTopic: `${en}-out`, deadLetterTopic: `${en}-dlq`,
          batchSize: 100, enrich: { keyField: 'user_id' }, rdkafka: { 'session.timeout.ms': 6000, 'heartbeat.interval.ms': 500 },
        },
        featureStore: { kind: 'redis', url: redis.url },
        models: [{ path: MODEL_PATH, workers: 2 }],
      }));
      const { proc, line } = await startStream(config, 60_000, host);
      const bad = Array.from({ length: n }, (_, i) => i).filter((i) => i % 100 === 50 || i % 250 === 3);
      try {
        assert.equal(line['workers'], 2);
        assert.equal(line['enrich'], 'redis user:<user_id>');
        await until(() => reader.got[`${en}-out`]!.length + reader.got[`${en}-dlq`]!.length >= n, 30_000,
          () => `${reader.got[`${en}-out`]!.length} out, ${reader.got[`${en}-dlq`]!.length} dlq\n${proc.outputTail()}`);
        assert.deepEqual(await proc.stop({ signal: 'SIGTERM', graceMs: 15_000 }), { code: 0, signal: null }, proc.outputTail());
      } finally {
        await proc.stop({ signal: 'SIGKILL' });
        await reader.stop();
      }
      const dlq = reader.got[`${en}-dlq`]!;
      assert.equal(dlq.length, bad.length);
      for (const d of dlq) {
        const i = Number(/e-(\d+)/.exec(d.value.toString())![1]);
        assert.equal(d.headers['omniserve-error-code'], i % 250 === 3 ? 'MISSING_KEY' : 'MISSING_FEATURE', `e-${i}: ${JSON.stringify(d.headers)}`);
      }
      const outs = reader.got[`${en}-out`]!.map(parse);
      assert.equal(outs.length, n - bad.length);
      // The worker threads' answers equal the in-process model on the whole (joined) row.
      const engine = createEngine(createNativeRuntime(), { backend: 'cpu' });
      try {
        const model = await engine.models.load({ source: MODEL_PATH });
        const sample = outs.filter((_, i) => i % 20 === 0);
        const want = await model.predict(sample.map((o) => row(userOf(Number(o.event_id.slice(2))))));
        sample.forEach((o, k) => {
          const p = 1 / (1 + Math.exp(-(want[k]!.outputs['logit'] as number)));
          assert.ok(Math.abs(o.probability - p) < 1e-4, `${o.event_id}: ${o.probability} vs ${p}`);
        });
      } finally {
        await engine.close();
      }
    });
  }
});
