/**
 * The Kafka client built for Bun lets go of what its persistent handles held. Bun's
 * `v8::api_internal::DisposeGlobal` (1.4.5) leaves a global handle a strong GC root, so
 * each produced message's delivery opaque (a pending promise's resolve/reject) and each
 * consume() callback (whose closure holds the fetched messages) stayed alive for good;
 * scripts/kafka-bun/bun-compat.cc clears the handle. Counted here as live objects after a
 * full GC (deterministic, unlike RSS): 20,000 messages produced and consumed must leave
 * neither 20,000 promises nor the consumed messages' 40,000 Buffers behind.
 */
import assert from 'node:assert/strict';
import { heapStats } from 'bun:jsc';
import { afterAll, beforeAll, describe, test } from 'bun:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startKafkaBroker, type KafkaBroker } from '../support/kafka-broker.ts';
import { quietKafka } from './stream-helpers.ts';

const T = 120_000;
const N = 20_000;

/** Live objects of `type` after two full collections. */
function live(type: string): number {
  Bun.gc(true);
  Bun.gc(true);
  return heapStats().objectTypeCounts[type] ?? 0;
}

describe('kafka client built for Bun: persistent handles', () => {
  let broker: KafkaBroker;
  let kafka: ReturnType<typeof quietKafka>;
  beforeAll(async () => {
    broker = await startKafkaBroker({ brokers: 1 });
    await broker.createTopic('handles', 4);
    kafka = quietKafka(broker.brokers);
  }, T);
  afterAll(async () => {
    await broker?.stop();
  }, T);

  test(`${N} messages produced and consumed leave no promises or Buffers behind`, async () => {
    const promises0 = live('Promise');
    const buffers0 = live('Uint8Array');
    const producer = kafka.producer({ 'linger.ms': 5 } as never);
    await producer.connect();
    const value = JSON.stringify({ event_id: 'e', pad: 'x'.repeat(200) });
    for (let i = 0; i < N; i += 1_000) {
      await producer.send({ topic: 'handles', messages: Array.from({ length: 1_000 }, (_, j) => ({ key: `k-${(i + j) % 50}`, value })) });
    }
    await producer.disconnect();

    let consumed = 0;
    const consumer = kafka.consumer({ kafkaJS: { groupId: 'handles-reader', fromBeginning: true, autoCommit: false } });
    await consumer.connect();
    await consumer.subscribe({ topics: ['handles'] });
    await consumer.run({ eachBatch: async ({ batch }) => void (consumed += batch.messages.length) });
    const deadline = Date.now() + 60_000;
    while (consumed < N && Date.now() < deadline) await sleep(50);
    assert.equal(consumed, N);
    await consumer.disconnect();

    // Before the fix: ~20,000 more promises and ~40,000 more Uint8Arrays (key + value of every consumed message).
    const promises = live('Promise') - promises0;
    const buffers = live('Uint8Array') - buffers0;
    assert.ok(promises < N / 10, `${promises} more promises live after ${N} messages`);
    assert.ok(buffers < N / 10, `${buffers} more Uint8Arrays live after ${N} messages`);
  }, T);
});
