/**
 * `omniserve stream` on Bun (run by `bun test`), with @confluentinc/kafka-javascript built for
 * Bun by scripts/kafka-bun/build.sh, against the mock Kafka cluster: events in, predictions
 * out (keyed, in per-key order, the model's probabilities), poison events dead-lettered with
 * their reasons, offsets committed for every event, SIGTERM exits 0; then a kill -9 midway
 * with a second process finishing the work.
 */
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, test } from 'bun:test';
import { startKafkaBroker, type KafkaBroker } from '../support/kafka-broker.ts';
import {
  assertDeadLetters, assertKeyedInOrder, assertScoredLikeModel, collect, event, keyOf, parse, poisonPayload, produce, quietKafka, startStream, until, writeConfig,
} from './stream-helpers.ts';

const T = 120_000;
describe('omniserve stream on Bun', () => {
  let broker: KafkaBroker;
  let kafka: ReturnType<typeof quietKafka>;
  const topics = async (name: string) => {
    for (const t of ['in', 'out', 'dlq']) await broker.createTopic(`${name}-${t}`, 4);
  };
  const committed = async (group: string, topic: string) => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const [o] = await admin.fetchOffsets({ groupId: group, topics: [{ topic, partitions: [0, 1, 2, 3] }] });
      return o!.partitions.map((p) => Math.max(0, Number(p.offset)));
    } finally {
      await admin.disconnect();
    }
  };

  beforeAll(async () => {
    assert.equal(typeof process.versions['bun'], 'string');
    broker = await startKafkaBroker({ brokers: 3 });
    kafka = quietKafka(broker.brokers);
  }, T);
  afterAll(async () => {
    await broker?.stop();
  }, T);

  test('2,000 events with 1% poison: outputs keyed and ordered with the model\'s probabilities, dead letters with reasons, all committed, SIGTERM exits 0', async () => {
    await topics('b1');
    const n = 2_000;
    const reader = await collect(kafka, ['b1-in', 'b1-out', 'b1-dlq'], 'b1-reader');
    await produce(kafka, 'b1-in', Array.from({ length: n }, (_, i) => ({ key: keyOf(i), value: poisonPayload(i) })));
    const t0 = Date.now();
    const { proc, line } = await startStream(writeConfig(broker.bootstrapServers, 'b1', { batchSize: 100, metrics: { port: 0 } }), 60_000, 'bun');
    try {
      assert.equal(line['event'], 'streaming');
      assert.deepEqual(line['partitions'], [0, 1, 2, 3]);
      const joined = Date.now();
      await until(() => reader.got['b1-out']!.length + reader.got['b1-dlq']!.length >= n && reader.got['b1-in']!.length >= n,
        60_000, () => `${reader.got['b1-out']!.length} out, ${reader.got['b1-dlq']!.length} dlq\n${proc.outputTail()}`);
      const rate = Math.round(n / ((Date.now() - joined) / 1000));
      const metrics = await (await fetch(`${String(line['metricsUrl']).replace(/\/metrics$/, '')}/metrics`)).text();
      assert.match(metrics, /omniserve_stream_dead_letters_total\{code="INVALID_JSON"\} \d/);
      assert.deepEqual(await proc.stop({ signal: 'SIGTERM', graceMs: 15_000 }), { code: 0, signal: null }, proc.outputTail());
      console.log(`# stream on Bun: ${n} events in ${Date.now() - t0} ms with process start and group join; ~${rate} events/s after joining`);
    } finally {
      await proc.stop({ signal: 'SIGKILL' });
      await reader.stop();
    }

    // Outputs: one per valid event, keyed like the input, in per-key order.
    const got = reader.got['b1-out']!;
    const outs = got.map(parse);
    assert.equal(outs.length, n - n / 100, 'an event was scored twice or not at all');
    assert.equal(new Set(outs.map((o) => o.event_id)).size, n - n / 100);
    assertKeyedInOrder(got, outs, (seq) => assert.notEqual(seq % 100, 7, `poison event e-${seq} was scored`));

    // The same model in this process: probability = sigmoid(logit), same prediction.
    await assertScoredLikeModel(outs, (o) => assert.equal(o.source.topic, 'b1-in'));

    // Dead letters: the input's bytes and key, the reason and where it came from.
    assertDeadLetters(reader.got, 'b1', n);

    // Every input offset committed by the SIGTERM shutdown.
    assert.equal((await committed('b1-scorer', 'b1-in')).reduce((a, b) => a + b, 0), n);
  }, T);

  test('kill -9 midway through 5,000 events, a second process finishes: every event has an output', async () => {
    await topics('b2');
    const n = 5_000;
    const config = writeConfig(broker.bootstrapServers, 'b2', { batchSize: 20, lingerMs: 50 });
    const reader = await collect(kafka, ['b2-out'], 'b2-reader');
    const ids = () => new Set(reader.got['b2-out']!.map((g) => parse(g).event_id));
    try {
      await produce(kafka, 'b2-in', Array.from({ length: n }, (_, i) => ({ key: keyOf(i), value: JSON.stringify(event(i)) })));
      const first = await startStream(config, 60_000, 'bun');
      await until(() => reader.got['b2-out']!.length >= 1_000, 60_000, () => first.proc.outputTail());
      assert.equal((await first.proc.stop({ signal: 'SIGKILL' })).signal, 'SIGKILL');
      const seenAtKill = ids().size;
      assert.ok(seenAtKill < n, `the first process finished all ${n} events before the kill`);
      const second = await startStream(config, 60_000, 'bun');
      try {
        await until(() => ids().size >= n, 60_000, () => `${ids().size} of ${n} event ids\n${second.proc.outputTail()}`);
        assert.deepEqual(await second.proc.stop({ signal: 'SIGTERM', graceMs: 15_000 }), { code: 0, signal: null }, second.proc.outputTail());
      } finally {
        await second.proc.stop({ signal: 'SIGKILL' });
      }
      assert.equal((await committed('b2-scorer', 'b2-in')).reduce((a, b) => a + b, 0), n);
      console.log(`# stream on Bun: ${seenAtKill} events scored before kill -9, ${reader.got['b2-out']!.length} outputs in all for ${n} events`);
    } finally {
      await reader.stop();
    }
  }, T);
});
