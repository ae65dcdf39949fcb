/**
 * Smoke test for the test infrastructure itself: if this fails, every test
 * that needs Redis or Kafka will, so fix it first.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KafkaJS } from '@confluentinc/kafka-javascript';
import { Redis } from 'ioredis';
import { isPortOpen } from './free-port.ts';
import { startKafkaBroker, type KafkaBroker } from './kafka-broker.ts';
import { startRedis } from './redis-server.ts';

const TIMEOUT = { timeout: 60_000 };

describe('redis-server', () => {
  test('hash and stream round trip, port closed after stop', TIMEOUT, async () => {
    const redis = await startRedis();
    const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await client.connect();

      await client.hset('user:1', { name: 'ada', plan: 'pro', calls: '3' });
      assert.deepEqual(await client.hgetall('user:1'), { name: 'ada', plan: 'pro', calls: '3' });

      await client.xgroup('CREATE', 'jobs', 'workers', '$', 'MKSTREAM');
      const id = await client.xadd('jobs', '*', 'model', 'resnet', 'input', '[1,2,3]');
      assert.ok(id);
      const read = (await client.xreadgroup(
        'GROUP', 'workers', 'w1', 'COUNT', 10, 'STREAMS', 'jobs', '>',
      )) as Array<[string, Array<[string, string[]]>]> | null;
      assert.deepEqual(read, [['jobs', [[id, ['model', 'resnet', 'input', '[1,2,3]']]]]]);
      assert.equal(await client.xack('jobs', 'workers', id), 1);
      const pending = (await client.xpending('jobs', 'workers')) as [number, ...unknown[]];
      assert.equal(pending[0], 0);
    } finally {
      client.disconnect();
      await redis.stop();
    }
    assert.equal(await isPortOpen(redis.port), false, 'port still open after stop()');
  });
});

/**
 * librdkafka logs through this: debug/info dropped, warnings and errors
 * printed, or collected into `sink` where a test provokes them on purpose.
 */
function quietLogger(sink?: string[]): KafkaJS.Logger {
  const emit = (level: string) => (message: string, extra?: object) => {
    const line = `[kafka ${level}] ${message}${extra ? ` ${JSON.stringify(extra)}` : ''}`;
    if (sink) sink.push(line);
    else console.error(line);
  };
  const logger: KafkaJS.Logger = {
    debug: () => {},
    info: () => {},
    warn: emit('warn'),
    error: emit('error'),
    namespace: () => logger,
    setLogLevel: () => {},
  };
  return logger;
}

describe('kafka mock broker', () => {
  let broker: KafkaBroker;
  let kafka: KafkaJS.Kafka;

  before(async () => {
    broker = await startKafkaBroker({ brokers: 3, topics: { orders: 4 } });
    kafka = new KafkaJS.Kafka({
      kafkaJS: { brokers: broker.brokers, logLevel: KafkaJS.logLevel.WARN, logger: quietLogger() },
    });
  }, TIMEOUT);

  after(async () => {
    await broker?.stop();
  }, TIMEOUT);

  test('200 keyed messages arrive once, in per-key order, offsets committed', TIMEOUT, async () => {
    const keys = 20;
    const producer = kafka.producer({ 'linger.ms': 5 });
    const consumer = kafka.consumer({
      kafkaJS: { groupId: 'orders-group', fromBeginning: true, autoCommit: false },
    });
    const admin = kafka.admin();
    try {
      await producer.connect();
      const messages = Array.from({ length: 200 }, (_, i) => ({
        key: `user-${i % keys}`,
        value: JSON.stringify({ i, seq: Math.floor(i / keys) }),
      }));
      await producer.send({ topic: 'orders', messages });

      const seen = new Map<string, number[]>();
      const nextOffsets = new Map<number, number>();
      let count = 0;
      await consumer.connect();
      await consumer.subscribe({ topics: ['orders'] });
      const all = new Promise<void>((resolve) => {
        void consumer.run({
          eachMessage: async ({ partition, message }) => {
            nextOffsets.set(partition, Number(message.offset) + 1);
            const key = message.key!.toString();
            const { seq } = JSON.parse(message.value!.toString()) as { seq: number };
            seen.set(key, [...(seen.get(key) ?? []), seq]);
            if (++count === messages.length) resolve();
          },
        });
      });
      await all;
      // Explicit offsets: a bare commitOffsets() only covers messages whose
      // eachMessage has returned, and the last one is still running here.
      await consumer.commitOffsets(
        [...nextOffsets].map(([partition, offset]) => ({
          topic: 'orders',
          partition,
          offset: String(offset),
        })),
      );

      const perKey = Array.from({ length: messages.length / keys }, (_, s) => s);
      assert.equal(seen.size, keys);
      for (const [key, seqs] of seen) assert.deepEqual(seqs, perKey, `order of ${key}`);
      assert.ok(nextOffsets.size > 1, `all messages landed in partitions ${[...nextOffsets.keys()]}`);

      // Listing a group's offsets for "all topics" returns [] against the
      // 2.0.2 mock, so name the partitions explicitly.
      await admin.connect();
      const [offsets] = await admin.fetchOffsets({
        groupId: 'orders-group',
        topics: [{ topic: 'orders', partitions: [0, 1, 2, 3] }],
      });
      const committed = offsets!.partitions
        .map((p) => Number(p.offset))
        .filter((o) => o >= 0)
        .reduce((a, b) => a + b, 0);
      assert.equal(committed, messages.length, JSON.stringify(offsets));
    } finally {
      await admin.disconnect().catch(() => {});
      await consumer.disconnect();
      await producer.disconnect();
    }
  });

  test('topic created at runtime carries a message', TIMEOUT, async () => {
    await broker.createTopic('runtime-topic', 2);
    const producer = kafka.producer({ 'linger.ms': 0 });
    const consumer = kafka.consumer({ kafkaJS: { groupId: 'runtime-group', fromBeginning: true } });
    try {
      await producer.connect();
      await producer.send({ topic: 'runtime-topic', messages: [{ key: 'k', value: 'hello' }] });
      await consumer.connect();
      await consumer.subscribe({ topics: ['runtime-topic'] });
      const value = await new Promise<string>((resolve) => {
        void consumer.run({ eachMessage: async ({ message }) => resolve(message.value!.toString()) });
      });
      assert.equal(value, 'hello');
    } finally {
      await consumer.disconnect();
      await producer.disconnect();
    }
  });

  test('brokerDown stalls a partition, brokerUp lets the send through', TIMEOUT, async () => {
    await broker.createTopic('faults', 1);
    await broker.setLeader('faults', 0, 2);
    // Connection-refused errors are the point of this test: keep them out
    // of the output unless an assertion fails.
    const logs: string[] = [];
    const faultKafka = new KafkaJS.Kafka({
      kafkaJS: { brokers: broker.brokers, logLevel: KafkaJS.logLevel.WARN, logger: quietLogger(logs) },
    });
    const producer = faultKafka.producer({
      'linger.ms': 0,
      // Default backoff grows to 10 s; reconnect quickly after brokerUp.
      'reconnect.backoff.max.ms': 500,
    });
    try {
      await producer.connect();
      await producer.send({ topic: 'faults', messages: [{ value: 'before' }] });

      await broker.brokerDown(2);
      let settled = false;
      const during = producer.send({ topic: 'faults', messages: [{ value: 'during' }] });
      during.then(
        () => (settled = true),
        () => (settled = true),
      );
      await sleep(1_000);
      assert.equal(settled, false, `send completed while its leader was down\n${logs.join('\n')}`);

      await broker.brokerUp(2);
      const [meta] = await during;
      assert.equal(meta!.errorCode, 0);
      const [next] = await producer.send({ topic: 'faults', messages: [{ value: 'after' }] });
      assert.equal(next!.errorCode, 0);
      assert.equal(Number(next!.baseOffset ?? next!.offset), 2, JSON.stringify(next));
    } catch (err) {
      console.error(logs.join('\n'));
      throw err;
    } finally {
      await producer.disconnect();
    }
  });
});
