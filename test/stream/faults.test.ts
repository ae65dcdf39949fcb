/**
 * `omniserve stream` through broker failures on the mock Kafka cluster: a broker that
 * leads partitions goes down for a few seconds mid-run and comes back, and retriable
 * request errors are injected into produce, fetch and commit; the stream carries on by
 * itself and every event ends up scored. The stream process runs on Node and on Bun (its
 * own build of the client); the test's producer and reader stay on Node.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startKafkaBroker, type KafkaBroker } from '../support/kafka-broker.ts';
import { STREAM_HOSTS, collect, event, keyOf, parse, produce, quietKafka, startStream, until, writeConfig } from './stream-helpers.ts';

describe('omniserve stream through broker faults', () => {
  let broker: KafkaBroker;
  let kafka: ReturnType<typeof quietKafka>;
  before(async () => {
    broker = await startKafkaBroker({ brokers: 3 });
    kafka = quietKafka(broker.brokers);
  });
  after(async () => {
    await broker?.stop();
  });

  for (const host of STREAM_HOSTS) {
    const [bd, re] = host === 'node' ? ['bd', 're'] : [`bd-${host}`, `re-${host}`];

    test(`${host}: a partition leader down for 4 s, then back: the stream recovers by itself, nothing lost`, { timeout: 90_000 }, async () => {
      // 8 partitions: the mock keeps only 5 MiB per partition (see kafka-broker.ts).
      for (const t of ['in', 'out', 'dlq']) await broker.createTopic(`${bd}-${t}`, 8);
      // Broker 1 leads input partition 0 and output partition 1; the others stay up.
      await broker.setLeader(`${bd}-in`, 0, 1);
      await broker.setLeader(`${bd}-out`, 1, 1);
      const n = 20_000;
      const reader = await collect(kafka, [`${bd}-out`], `${bd}-reader`);
      await produce(kafka, `${bd}-in`, Array.from({ length: n }, (_, i) => ({ key: keyOf(i), value: JSON.stringify(event(i)) })));
      // Small batches and a long linger keep the run going long enough to straddle the outage.
      const { proc } = await startStream(writeConfig(broker.bootstrapServers, bd, { batchSize: 50, lingerMs: 30 }), 60_000, host);
      try {
        await until(() => reader.got[`${bd}-out`]!.length >= 2_000, 30_000, () => proc.outputTail());
        await broker.brokerDown(1);
        const atDown = reader.got[`${bd}-out`]!.length;
        await sleep(4_000);
        await broker.brokerUp(1);
        assert.ok(atDown < n, 'the run finished before the outage');
        assert.ok(!proc.hasExited(), `the stream exited during the outage\n${proc.outputTail()}`);
        const ids = () => new Set(reader.got[`${bd}-out`]!.map((g) => parse(g).event_id)).size;
        await until(() => ids() >= n, 60_000, () => `${ids()} of ${n} event ids after the outage\n${proc.outputTail()}`);
        assert.deepEqual(await proc.stop({ signal: 'SIGTERM', graceMs: 15_000 }), { code: 0, signal: null }, proc.outputTail());
        console.log(`# stream faults (${host}): ${atDown} outputs when broker 1 went down, ${reader.got[`${bd}-out`]!.length} for ${n} events in all`);
      } finally {
        await proc.stop({ signal: 'SIGKILL' });
        await reader.stop();
      }
    });

    test(`${host}: injected request errors on produce, fetch and commit: retried, nothing lost`, { timeout: 60_000 }, async () => {
      for (const t of ['in', 'out', 'dlq']) await broker.createTopic(`${re}-${t}`, 4);
      const n = 5_000;
      const reader = await collect(kafka, [`${re}-out`], `${re}-reader`);
      await produce(kafka, `${re}-in`, Array.from({ length: n }, (_, i) => ({ key: keyOf(i), value: JSON.stringify(event(i)) })));
      const { proc } = await startStream(writeConfig(broker.bootstrapServers, re, { batchSize: 50, lingerMs: 30 }), 60_000, host);
      try {
        await until(() => reader.got[`${re}-out`]!.length >= 500, 30_000, () => proc.outputTail());
        // NOT_LEADER_OR_FOLLOWER (6), REQUEST_TIMED_OUT (7), COORDINATOR_NOT_AVAILABLE (15),
        // NOT_COORDINATOR (16): the retriable kind a rolling restart produces.
        await broker.pushRequestErrors(0, [6, 7, 6, 7, 6]);
        await broker.pushRequestErrors(1, [6, 6, 7]);
        await broker.pushRequestErrors(8, [15, 16, 15]);
        const ids = () => new Set(reader.got[`${re}-out`]!.map((g) => parse(g).event_id)).size;
        await until(() => ids() >= n, 45_000, () => `${ids()} of ${n} event ids\n${proc.outputTail()}`);
        assert.ok(!proc.hasExited(), proc.outputTail());
        assert.deepEqual(await proc.stop({ signal: 'SIGTERM', graceMs: 15_000 }), { code: 0, signal: null }, proc.outputTail());
      } finally {
        await proc.stop({ signal: 'SIGKILL' });
        await reader.stop();
      }
    });
  }
});
