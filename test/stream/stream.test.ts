/**
 * `omniserve stream` against a real (mock) Kafka cluster: predictions keyed and ordered,
 * poison events dead-lettered with their reasons, and at-least-once through a kill -9.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startKafkaBroker, type KafkaBroker } from '../support/kafka-broker.ts';
import { createEngine } from '../../src/index.ts';
import { createNativeRuntime } from '../../runtimes/native/runtime.ts';
import { StreamProcessor } from '../../src/stream/processor.ts';
import { parseStreamConfig } from '../../src/stream/config.ts';
import { startKafkaStream } from '../../runtimes/native/stream-kafka.ts';
import {
  MODEL_PATH, assertDeadLetters, assertKeyedInOrder, assertScoredLikeModel, collect, event, keyOf, parse, poisonPayload, produce, quietKafka, startStream, until, writeConfig,
} from './stream-helpers.ts';
import { readFileSync } from 'node:fs';

const T = { timeout: 60_000 };

describe('omniserve stream', () => {
  let broker: KafkaBroker;
  let kafka: ReturnType<typeof quietKafka>;
  const topics = async (name: string) => {
    for (const t of ['in', 'out', 'dlq']) await broker.createTopic(`${name}-${t}`, 4);
  };

  before(async () => {
    broker = await startKafkaBroker({ brokers: 3 });
    kafka = quietKafka(broker.brokers);
  }, T);
  after(async () => {
    await broker?.stop();
  }, T);

  test('2,000 events: one output each, model probabilities, per-key order, SIGTERM exits 0', T, async () => {
    await topics('s1');
    const n = 2_000;
    const outputs = await collect(kafka, ['s1-out'], 's1-reader');
    await produce(kafka, 's1-in', Array.from({ length: n }, (_, i) => ({ key: keyOf(i), value: JSON.stringify(event(i)) })));
    const t0 = Date.now();
    const { proc, line } = await startStream(writeConfig(broker.bootstrapServers, 's1'));
    try {
      assert.equal(line['event'], 'streaming');
      assert.deepEqual(line['partitions'], [0, 1, 2, 3]);
      const joined = Date.now();
      await until(() => outputs.got['s1-out']!.length >= n, 30_000, () => `${outputs.got['s1-out']!.length} outputs\n${proc.outputTail()}`);
      const elapsed = Date.now() - t0;
      const rate = Math.round(n / ((Date.now() - joined) / 1000));
      const exit = await proc.stop({ signal: 'SIGTERM', graceMs: 15_000 });
      assert.deepEqual(exit, { code: 0, signal: null }, proc.outputTail());
      console.log(`# stream: ${n} events in ${elapsed} ms with process start and group join; ~${rate} events/s after joining`);
    } finally {
      await proc.stop({ signal: 'SIGKILL' });
      await outputs.stop();
    }
    const got = outputs.got['s1-out']!;
    const outs = got.map(parse);
    assert.equal(outs.length, n, 'an event was scored twice');
    assert.equal(new Set(outs.map((o) => o.event_id)).size, n);
    // Keyed by the input key; per-key order as produced.
    assertKeyedInOrder(got, outs);
    // The same model in-process: probability = sigmoid(logit).
    await assertScoredLikeModel(outs, (o, want) => {
      assert.equal(o.label, want.label);
      assert.equal(o.timestamp, event(Number(o.event_id.slice(2))).timestamp);
      assert.ok(o.latency_ms >= 0 && !Number.isNaN(Date.parse(o.processed_at)));
    });
  });

  test('1% poison events go to the dead-letter topic with reasons and source offsets', T, async () => {
    await topics('s2');
    const n = 2_000;
    const reader = await collect(kafka, ['s2-in', 's2-out', 's2-dlq'], 's2-reader');
    await produce(kafka, 's2-in', Array.from({ length: n }, (_, i) => ({ key: keyOf(i), value: poisonPayload(i) })));

    // In-process runner: the same code the command runs, minus the process.
    const cfg = parseStreamConfig(JSON.parse(readFileSync(writeConfig(broker.bootstrapServers, 's2', { batchSize: 100 }), 'utf8')));
    const engine = createEngine(createNativeRuntime(), { backend: 'cpu' });
    const logs: string[] = [];
    try {
      const model = await engine.models.load({ source: MODEL_PATH, session: { threads: 1 } });
      const processor = new StreamProcessor(model, { batchSize: 100, lingerMs: 20, concurrency: 4 });
      const stream = await startKafkaStream(cfg.stream, processor, (l) => logs.push(l));
      try {
        assert.deepEqual(await stream.joined, [0, 1, 2, 3]);
        await until(() => reader.got['s2-out']!.length + reader.got['s2-dlq']!.length >= n && reader.got['s2-in']!.length >= n,
          30_000, () => `${reader.got['s2-out']!.length} out, ${reader.got['s2-dlq']!.length} dlq\n${logs.join('\n')}`);
      } finally {
        await stream.stop();
      }
      assert.equal(processor.counts.deadLettered, 20);
    } finally {
      await engine.close();
      await reader.stop();
    }
    assertDeadLetters(reader.got, 's2', n);
    const scored = new Set(reader.got['s2-out']!.map((g) => parse(g).event_id));
    assert.equal(scored.size, n - n / 100);
    for (let i = 0; i < n; i++) if (i % 100 !== 7) assert.ok(scored.has(`e-${i}`), `e-${i} not scored`);
  });

  test('kill -9 midway through 5,000 events: every event scored, commits never ahead of outputs', T, async () => {
    await topics('s3');
    const n = 5_000;
    // Small batches and a long linger slow the first process down enough to die midway.
    const config = writeConfig(broker.bootstrapServers, 's3', { batchSize: 20, lingerMs: 50 });
    const reader = await collect(kafka, ['s3-out'], 's3-reader');
    const admin = kafka.admin();
    await admin.connect();
    const committed = async () => {
      const [o] = await admin.fetchOffsets({ groupId: 's3-scorer', topics: [{ topic: 's3-in', partitions: [0, 1, 2, 3] }] });
      return o!.partitions.map((p) => ({ partition: p.partition, offset: Math.max(0, Number(p.offset)) }));
    };
    const coveredUpTo = (commits: { partition: number; offset: number }[]) => {
      const seen = new Map<number, Set<number>>();
      for (const g of reader.got['s3-out']!) {
        const s = parse(g).source;
        if (!seen.has(s.partition)) seen.set(s.partition, new Set());
        seen.get(s.partition)!.add(s.offset);
      }
      return commits.filter(({ partition, offset }) => {
        const s = seen.get(partition) ?? new Set();
        for (let o = 0; o < offset; o++) if (!s.has(o)) return true;
        return false;
      });
    };
    try {
      await produce(kafka, 's3-in', Array.from({ length: n }, (_, i) => ({ key: keyOf(i), value: JSON.stringify(event(i)) })));
      const first = await startStream(config);
      await until(() => reader.got['s3-out']!.length >= 1_000, 30_000, () => first.proc.outputTail());
      const killed = await first.proc.stop({ signal: 'SIGKILL' });
      assert.equal(killed.signal, 'SIGKILL');
      const seenAtKill = reader.got['s3-out']!.length;
      assert.ok(seenAtKill < n, `the first process finished all ${n} events before the kill`);
      // Every committed offset's event was delivered before the commit.
      const atKill = await committed();
      assert.ok(atKill.some((c) => c.offset > 0), `nothing committed: ${JSON.stringify(atKill)}`);
      await until(() => coveredUpTo(atKill).length === 0, 10_000, () => `commits ahead of outputs: ${JSON.stringify(coveredUpTo(atKill))}`);

      const second = await startStream(config);
      const ids = () => new Set(reader.got['s3-out']!.map((g) => parse(g).event_id));
      await until(() => ids().size >= n, 45_000, () => `${ids().size} of ${n} event ids\n${second.proc.outputTail()}`);
      assert.deepEqual(await second.proc.stop({ signal: 'SIGTERM', graceMs: 15_000 }), { code: 0, signal: null }, second.proc.outputTail());
      const final = await committed();
      assert.equal(final.reduce((a, c) => a + c.offset, 0), n, JSON.stringify(final));
      assert.deepEqual(coveredUpTo(final), []);
      console.log(`# stream: ${seenAtKill} outputs before kill -9, ${reader.got['s3-out']!.length} in all for ${n} events`);
    } finally {
      await admin.disconnect().catch(() => {});
      await reader.stop();
    }
  });
});
