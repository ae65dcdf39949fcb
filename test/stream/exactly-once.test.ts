/**
 * `stream.exactlyOnce`: outputs and input offsets go through Kafka transactions. What the
 * test cluster can show: every event is scored once through committed transactions, and
 * SIGTERM finishes cleanly. What it cannot: the mock broker of librdkafka 2.0.2 (Debian's)
 * neither stores transactional offset commits (TxnOffsetCommit is answered, not applied)
 * nor writes commit/abort markers, so recovery after a crash (aborted outputs hidden from
 * read_committed readers, restart from the transaction's offsets) is not verified here.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startKafkaBroker, type KafkaBroker } from '../support/kafka-broker.ts';
import { STREAM_HOSTS, collect, event, keyOf, parse, produce, quietKafka, startStream, until, writeConfig } from './stream-helpers.ts';

describe('omniserve stream exactly-once', () => {
  let broker: KafkaBroker;
  before(async () => {
    broker = await startKafkaBroker({ brokers: 3 });
  });
  after(async () => {
    await broker?.stop();
  });

  for (const host of STREAM_HOSTS) {
    const eo = host === 'node' ? 'eo' : `eo-${host}`;

    test(`${host}: 2,000 events through transactions: each scored once, SIGTERM exits 0`, { timeout: 60_000 }, async () => {
      for (const t of ['in', 'out', 'dlq']) await broker.createTopic(`${eo}-${t}`, 4);
      const n = 2_000;
      const kafka = quietKafka(broker.brokers);
      // collect() reads with librdkafka's default isolation.level, read_committed.
      const reader = await collect(kafka, [`${eo}-out`], `${eo}-reader`);
      await produce(kafka, `${eo}-in`, Array.from({ length: n }, (_, i) => ({ key: keyOf(i), value: JSON.stringify(event(i)) })));
      const { proc, line } = await startStream(writeConfig(broker.bootstrapServers, eo, { exactlyOnce: true, transactionalId: `${eo}-scorer-0`, batchSize: 100 }), 60_000, host);
      try {
        assert.equal(line['exactlyOnce'], true);
        await until(() => reader.got[`${eo}-out`]!.length >= n, 30_000, () => `${reader.got[`${eo}-out`]!.length} of ${n}\n${proc.outputTail()}`);
        assert.deepEqual(await proc.stop({ signal: 'SIGTERM', graceMs: 15_000 }), { code: 0, signal: null }, proc.outputTail());
        await new Promise((r) => setTimeout(r, 500)); // a duplicate, if any, would arrive meanwhile
      } finally {
        await proc.stop({ signal: 'SIGKILL' });
        await reader.stop();
      }
      const ids = reader.got[`${eo}-out`]!.map((g) => parse(g).event_id);
      assert.equal(new Set(ids).size, n);
      assert.equal(ids.length, n);
    });
  }
});
