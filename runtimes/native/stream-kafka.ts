/**
 * The Kafka side of `omniserve stream`, on @confluentinc/kafka-javascript (librdkafka).
 * At-least-once: each fetched partition batch is scored, its outputs and dead letters are
 * produced, and only once the producer has acknowledged all of them is the partition's
 * next offset committed. A crash anywhere before the commit means the batch is fetched
 * and scored again, never lost.
 *
 * The client is an optional dependency with a native build: it is imported here, lazily,
 * so `omniserve serve` never needs it.
 * @module
 */
import type { KafkaJS as KafkaJSNamespace } from '@confluentinc/kafka-javascript';
import type { StreamSection } from '../../src/stream/config.ts';
import type { OutboundMessage } from '../../src/stream/events.ts';
import type { StreamProcessor } from '../../src/stream/processor.ts';

type KafkaJSModule = typeof KafkaJSNamespace;
const PACKAGE = '@confluentinc/kafka-javascript';

/** A running stream: joined, then processing until `stop()` or a fatal error. */
export interface KafkaStream {
  /** Resolves with the assigned partitions once the consumer has joined its group. */
  readonly joined: Promise<number[]>;
  /** Rejects when processing fails for good (nothing after the failed batch is committed). */
  readonly failed: Promise<never>;
  /** Stops fetching, finishes batches in flight (produce + commit), leaves the group. */
  stop(): Promise<void>;
}

/** Loads the Kafka client, or explains which package to install. */
export async function loadKafka(): Promise<KafkaJSModule> {
  let mod: { KafkaJS?: KafkaJSModule; default?: { KafkaJS?: KafkaJSModule } };
  try {
    mod = await import(PACKAGE);
  } catch (e) {
    throw new Error(`omniserve stream needs the optional package ${PACKAGE}, which is not installed or did not build ` +
      `(npm install ${PACKAGE}; without a prebuilt binary it builds from source with CKJS_LINKING=dynamic): ${(e as Error).message}`, { cause: e });
  }
  const kafkaJs = mod.KafkaJS ?? mod.default?.KafkaJS;
  if (!kafkaJs) throw new Error(`${PACKAGE} has no KafkaJS export: an unsupported version?`);
  return kafkaJs;
}

/** Connects, subscribes and starts processing `cfg.inputTopic` with `processor`. */
export async function startKafkaStream(
  cfg: StreamSection,
  processor: StreamProcessor,
  log: (line: string) => void,
): Promise<KafkaStream> {
  const KafkaJS = await loadKafka();
  const logger = kafkaLogger(log);
  const kafka = new KafkaJS.Kafka({
    kafkaJS: {
      brokers: cfg.brokers, logLevel: KafkaJS.logLevel.WARN, logger,
      ...(cfg.ssl !== undefined ? { ssl: cfg.ssl as never } : {}),
      ...(cfg.sasl ? { sasl: cfg.sasl as never } : {}),
    },
  });
  const producer = kafka.producer({
    // Idempotence keeps per-key order through retries; acks from all in-sync replicas.
    kafkaJS: { idempotent: true, acks: -1 },
    'linger.ms': cfg.lingerMs,
    ...cfg.rdkafka,
  } as never);
  const consumer = kafka.consumer({
    kafkaJS: { groupId: cfg.groupId, autoCommit: false, fromBeginning: cfg.autoOffsetReset === 'earliest' },
    'js.consumer.max.batch.size': cfg.batchSize,
    ...cfg.rdkafka,
  } as never);

  let stopping = false;
  let inflight = 0;
  let onIdle: (() => void) | undefined;
  let fail!: (e: unknown) => void;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  failed.catch(() => {});

  await producer.connect();
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [cfg.inputTopic] });
  } catch (e) {
    await producer.disconnect().catch(() => {});
    throw e;
  }
  const toKafka = (m: OutboundMessage) => ({ key: bytes(m.key), value: bytes(m.value)!, ...(m.headers ? { headers: { ...m.headers } } : {}) });

  await consumer.run({
    partitionsConsumedConcurrently: cfg.concurrency,
    eachBatch: async ({ batch }) => {
      // After stop(): fetched but never committed, so the next member fetches it again.
      if (stopping || batch.messages.length === 0) return;
      inflight++;
      try {
        const receivedAt = Date.now();
        const messages = batch.messages.map((m) => ({
          topic: batch.topic, partition: batch.partition, offset: m.offset, key: m.key, value: m.value,
        }));
        const r = await processor.process(messages, receivedAt);
        const topicMessages = [];
        if (r.outputs.length > 0) topicMessages.push({ topic: cfg.outputTopic, messages: r.outputs.map(toKafka) });
        if (r.deadLetters.length > 0) topicMessages.push({ topic: cfg.deadLetterTopic, messages: r.deadLetters.map(toKafka) });
        // Resolves once every message is acknowledged; rejects if any delivery failed.
        if (topicMessages.length > 0) await producer.sendBatch({ topicMessages });
        await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: r.nextOffset }]);
      } catch (e) {
        // Retrying in place would hide a broken model or cluster: stop without
        // committing and let a restart (or another member) take over.
        stopping = true;
        fail(e);
        throw e;
      } finally {
        if (--inflight === 0) onIdle?.();
      }
    },
  });

  const joined = waitForAssignment(consumer, () => stopping, failed);
  joined.catch(() => {});
  let stopped: Promise<void> | undefined;
  return {
    joined, failed,
    stop() {
      stopped ??= (async () => {
        stopping = true;
        if (inflight > 0) await new Promise<void>((resolve) => (onIdle = resolve));
        await consumer.disconnect();
        await producer.disconnect();
        await processor.close();
      })();
      return stopped;
    },
  };
}

/** Polls until the group has assigned partitions (the first join takes a few seconds). */
async function waitForAssignment(consumer: KafkaJSNamespace.Consumer, cancelled: () => boolean, failed: Promise<never>): Promise<number[]> {
  for (;;) {
    if (cancelled()) throw new Error('stopped before joining the consumer group');
    let partitions: number[] = [];
    try {
      partitions = consumer.assignment().map((a) => a.partition);
    } catch {
      // Not yet in a group: keep polling.
    }
    if (partitions.length > 0) return partitions.sort((a, b) => a - b);
    await Promise.race([new Promise((r) => setTimeout(r, 100)), failed]);
  }
}

function bytes(x: Uint8Array | string | null): Buffer | string | null {
  if (x === null || typeof x === 'string') return x;
  return Buffer.isBuffer(x) ? x : Buffer.from(x.buffer, x.byteOffset, x.byteLength);
}

/** librdkafka's debug/info chatter dropped; warnings and errors as one line each. */
function kafkaLogger(log: (line: string) => void): KafkaJSNamespace.Logger {
  const emit = (level: string) => (message: string, extra?: object) =>
    log(`omniserve stream: kafka ${level}: ${message}${extra ? ` ${JSON.stringify(extra)}` : ''}`);
  const logger: KafkaJSNamespace.Logger = {
    debug: () => {}, info: () => {}, warn: emit('warn'), error: emit('error'),
    namespace: () => logger, setLogLevel: () => {},
  };
  return logger;
}
