/**
 * The Kafka side of `omniserve stream`, on @confluentinc/kafka-javascript (librdkafka).
 * At-least-once: each fetched partition batch is scored, its outputs and dead letters are
 * produced, and only once the producer has acknowledged all of them (and all of the
 * partition's earlier batches) is the partition's next offset committed. A crash anywhere before the commit means the batch is fetched
 * and scored again, never lost.
 *
 * The client is an optional dependency with a native build: it is imported here, lazily,
 * so `omniserve serve` never needs it. On Bun it is the copy scripts/kafka-bun/build.sh
 * builds for Bun's ABI ({@link loadKafka}).
 * @module
 */
import type { KafkaJS as KafkaJSNamespace } from '@confluentinc/kafka-javascript';
import type { StreamSection } from '../../src/stream/config.ts';
import type { InboundMessage, OutboundMessage } from '../../src/stream/events.ts';
import type { ProcessedBatch } from '../../src/stream/processor.ts';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import process from 'node:process';
import { CommitTracker, type TrackedBatch } from '../../src/stream/commit-tracker.ts';
import type { StreamMetrics } from '../../src/stream/metrics.ts';

type KafkaJSModule = typeof KafkaJSNamespace;
const PACKAGE = '@confluentinc/kafka-javascript';

/** A running stream: joined, then processing until `stop()` or a fatal error. */
export interface KafkaStream {
  /** Resolves with the assigned partitions once the consumer has joined its group. */
  readonly joined: Promise<number[]>;
  /** Rejects when processing fails for good (nothing after the failed batch is committed). */
  readonly failed: Promise<never>;
  /** Events fetched and not yet acknowledged downstream. */
  readonly inFlight: number;
  /** True while fetching is paused for backpressure. */
  readonly paused: boolean;
  /** Stops fetching, finishes batches in flight (produce + commit), leaves the group. */
  stop(): Promise<void>;
}

/**
 * Where scripts/kafka-bun/build.sh puts the client built for Bun (the package's own native
 * build is for Node's ABI and does not load in Bun): `OMNISERVE_KAFKA_BUN_DIR`, else
 * node_modules/.cache/omniserve-kafka-bun in this checkout.
 */
export function kafkaBunDir(): string {
  return process.env['OMNISERVE_KAFKA_BUN_DIR']
    ?? fileURLToPath(new URL('../../node_modules/.cache/omniserve-kafka-bun', import.meta.url));
}

/**
 * Loads the Kafka client, or explains what to install or build. On Node (and Deno, where it
 * does not load: see docs/streaming.md) that is the package; on Bun it is the package's copy
 * built for Bun by scripts/kafka-bun/build.sh.
 */
export async function loadKafka(): Promise<KafkaJSModule> {
  const onBun = typeof process.versions['bun'] === 'string';
  let mod: { KafkaJS?: KafkaJSModule; default?: { KafkaJS?: KafkaJSModule } };
  if (onBun) {
    const dir = kafkaBunDir();
    if (!existsSync(join(dir, 'build/Release/confluent-kafka-javascript.node'))) {
      throw new Error(`omniserve stream on Bun needs ${PACKAGE} built for Bun, which is missing from ${dir}: ` +
        'run scripts/kafka-bun/build.sh (scripts/setup.sh does), or run the stream on Node');
    }
    try {
      mod = await import(pathToFileURL(join(dir, 'lib/index.js')).href);
    } catch (e) {
      throw new Error(`${PACKAGE} built for Bun (${dir}) does not load: rebuild it with scripts/kafka-bun/build.sh: ${(e as Error).message}`, { cause: e });
    }
  } else {
    try {
      mod = await import(PACKAGE);
    } catch (e) {
      throw new Error(`omniserve stream needs the optional package ${PACKAGE}, which is not installed or did not build ` +
        `(npm install ${PACKAGE}; without a prebuilt binary it builds from source with CKJS_LINKING=dynamic): ${(e as Error).message}`, { cause: e });
    }
  }
  const kafkaJs = mod.KafkaJS ?? mod.default?.KafkaJS;
  if (!kafkaJs) throw new Error(`${PACKAGE} has no KafkaJS export: an unsupported version?`);
  return kafkaJs;
}

/** What the runner needs of a processor (StreamProcessor, or the benchmark's no-op pipe). */
export interface BatchProcessor {
  process(messages: readonly InboundMessage[], receivedAt?: number): Promise<ProcessedBatch>;
  close(): Promise<void>;
}

/** Options of {@link startKafkaStream}. */
export interface KafkaStreamOptions {
  /** Counters and gauges to keep (the `omniserve stream` metrics endpoint). */
  readonly metrics?: StreamMetrics;
  /** How long a revoked partition's batches in flight may take to finish before it is let go. */
  readonly revokeWaitMs?: number;
}

/** librdkafka's rebalance_cb codes. */
const ASSIGN_PARTITIONS = -175;
const REVOKE_PARTITIONS = -174;

/**
 * Connects, subscribes and starts processing `cfg.inputTopic` with `processor`.
 *
 * Pipelined: each fetched partition batch is handed on without waiting, so one partition's
 * next batch is scored while the previous batch's outputs travel to the broker. Per-key
 * order holds because a partition's batches are produced in fetch order (each waits for
 * the one before it to be handed to the producer, which keeps order per partition), and
 * the commit point of a partition moves only over batches that are all acknowledged
 * ({@link CommitTracker}). Commits are coalesced: at most one in flight, carrying every
 * partition that moved. When more than `maxInFlight` events are fetched and not yet
 * acknowledged, fetching pauses; it resumes once in-flight work is under half the bound,
 * so memory stays bounded under any backlog (with librdkafka's own prefetch queue,
 * `queued.max.messages.kbytes`, the other buffer).
 */
export async function startKafkaStream(
  cfg: StreamSection,
  processor: BatchProcessor,
  log: (line: string) => void,
  options: KafkaStreamOptions = {},
): Promise<KafkaStream> {
  const KafkaJS = await loadKafka();
  const metrics = options.metrics;
  const revokeWaitMs = options.revokeWaitMs ?? 30_000;
  const logger = kafkaLogger(log, () => metrics?.errors.inc({ kind: 'client' }));
  const kafka = new KafkaJS.Kafka({
    kafkaJS: {
      brokers: cfg.brokers, logLevel: KafkaJS.logLevel.WARN, logger,
      ...(cfg.ssl !== undefined ? { ssl: cfg.ssl as never } : {}),
      ...(cfg.sasl ? { sasl: cfg.sasl as never } : {}),
    },
  });
  const eos = cfg.exactlyOnce;
  const producer = kafka.producer({
    // Idempotence keeps per-key order through retries; acks from all in-sync replicas.
    kafkaJS: {
      idempotent: true, acks: -1,
      ...(eos ? { transactionalId: cfg.transactionalId ?? `omniserve-${cfg.groupId}-${hostname()}-${process.pid}` } : {}),
    },
    'linger.ms': cfg.lingerMs,
    ...cfg.rdkafka,
  } as never);

  const tracker = new CommitTracker();
  const assigned = new Set<number>();
  /** Per partition: settles once the latest batch's outputs are handed to the producer. */
  const issued = new Map<number, Promise<unknown>>();
  const lag = new Map<number, number>();
  /** Per partition: the latest point a commit was acknowledged for. */
  const lastCommitted = new Map<number, { topic: string; partition: number; offset: string }>();
  const maxInFlight = cfg.maxInFlight;
  let stopping = false;
  let fatal: unknown;
  let paused = false;
  let fail!: (e: unknown) => void;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  failed.catch(() => {});
  const idleWaiters: (() => void)[] = [];
  const notifyIdle = () => {
    if (tracker.pendingBatches > 0 && fatal === undefined) return;
    for (const w of idleWaiters.splice(0)) w();
  };

  const consumer = kafka.consumer({
    kafkaJS: { groupId: cfg.groupId, autoCommit: false, fromBeginning: cfg.autoOffsetReset === 'earliest' },
    'js.consumer.max.batch.size': cfg.batchSize,
    ...(metrics ? { 'statistics.interval.ms': 1000, stats_cb: (d: unknown) => readLag(d, cfg.inputTopic, assigned, lag) } : {}),
    ...(cfg.rebalance === 'cooperative' ? { 'partition.assignment.strategy': 'cooperative-sticky' } : {}),
    // Works for both protocols: under cooperative-sticky, librdkafka passes only the
    // partitions that move (incremental assign and revoke), and the partitions kept are
    // never touched here.
    rebalance_cb: async (err: { code: number }, assignment: { topic: string; partition: number }[]) => {
      const mine = assignment.filter((a) => a.topic === cfg.inputTopic);
      if (err.code === ASSIGN_PARTITIONS || err.code === REVOKE_PARTITIONS) {
        const kind = err.code === ASSIGN_PARTITIONS ? 'assign' : 'revoke';
        log(`omniserve stream: rebalance (${cfg.rebalance}): ${kind} ${JSON.stringify(mine.map((a) => a.partition).sort((x, y) => x - y))}`);
      }
      if (err.code === ASSIGN_PARTITIONS) {
        metrics?.rebalances.inc({ kind: 'assign' });
        for (const a of mine) assigned.add(a.partition);

      } else if (err.code === REVOKE_PARTITIONS) {
        metrics?.rebalances.inc({ kind: 'revoke' });
        // Finish what was fetched from the revoked partitions and commit it, so the next
        // owner starts after it; what does not finish in time is abandoned uncommitted.
        const deadline = Date.now() + revokeWaitMs;
        while (fatal === undefined && tracker.pendingOf(mine).length > 0 && Date.now() < deadline) await sleep(10);
        await flushCommits();
        // Once more, every revoked partition's latest point: a commit acknowledged while the
        // group was already rebalancing can be dropped (seen on the mock cluster: the next
        // owner started before points librdkafka had reported committed), while one made
        // here, in the revoke callback, is the one the protocol provides for.
        const last = eos ? [] : mine.map((a) => lastCommitted.get(a.partition)).filter((p) => p !== undefined);
        if (last.length > 0 && !stopping) {
          await consumer.commitOffsets(last.map((p) => ({ ...p })))
            .catch((e: Error) => log(`omniserve stream: commit on revoke failed: ${e.message}`));
        }
        tracker.drop(mine);
        for (const a of mine) {
          lastCommitted.delete(a.partition);
          assigned.delete(a.partition);
          issued.delete(a.partition);
          lag.delete(a.partition);
        }
        maybeResume();
      }
    },
    ...cfg.rdkafka,
  } as never);

  // Commits: at most one in flight; points that move meanwhile go in the next one.
  let committing: Promise<void> | undefined;
  let commitAgain = false;
  const commit = (): Promise<void> => {
    // Exactly-once: offsets went into each transaction; nothing to commit here.
    if (eos) {
      tracker.takeCommits();
      return Promise.resolve();
    }
    if (committing) {
      commitAgain = true;
      return committing;
    }
    committing = (async () => {
      do {
        commitAgain = false;
        const points = tracker.takeCommits().filter((p) => assigned.has(p.partition));
        if (points.length === 0) break;
        try {
          await consumer.commitOffsets(points.map((p) => ({ topic: p.topic, partition: p.partition, offset: p.offset })));
          for (const p of points) lastCommitted.set(p.partition, p);
          metrics?.commits.inc();
        } catch (e) {
          // Not fatal: the outputs are safe, only the commit point lags (a rebalance, a
          // coordinator move); the next commit carries it again.
          metrics?.errors.inc({ kind: 'commit' });
          log(`omniserve stream: commit failed (will retry): ${(e as Error).message}`);
          tracker.restore(points);
          break;
        }
      } while (commitAgain);
    })().finally(() => {
      committing = undefined;
    });
    return committing;
  };
  /** Commits every point that moved, retrying a failed commit a few times. */
  const flushCommits = async () => {
    for (let i = 0; i < 5; i++) {
      await committing;
      await commit();
      if (!tracker.hasCommits && !committing) return;
      await sleep(100 * (i + 1));
    }
  };

  const topic = cfg.inputTopic;
  // Backpressure by holding the partition workers: a worker whose hand-off took in-flight
  // work past the bound waits before it returns for another batch, so nothing more is
  // fetched into JS until the pipeline has drained to half the bound. (The KafkaJS-style
  // consumer.pause()/resume() pair would do the same through the client, but in
  // @confluentinc/kafka-javascript 1.10.1 repeated pause/resume under load left partitions
  // unfetched for good: seen here, consumption stopped after the second resume.)
  const resumeWaiters: (() => void)[] = [];
  const holdFetching = async () => {
    if (!paused) metrics?.pauses.inc();
    paused = true;
    await new Promise<void>((resolve) => resumeWaiters.push(resolve));
  };
  function maybeResume(): void {
    if (!paused || (tracker.inFlight > maxInFlight / 2 && !stopping)) return;
    paused = false;
    for (const w of resumeWaiters.splice(0)) w();
  }
  metrics?.setSources({
    lag: () => [...lag].map(([p, n]) => [topic, p, n] as const),
    inFlight: () => tracker.inFlight,
    paused: () => (paused ? 1 : 0),
  });

  await producer.connect();
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [cfg.inputTopic] });
  } catch (e) {
    await producer.disconnect().catch(() => {});
    throw e;
  }
  // Per message: no object spread (slow on Node 20); headers only on dead letters.
  const toKafka = (m: OutboundMessage) => {
    const out: { key: ReturnType<typeof bytes>; value: NonNullable<ReturnType<typeof bytes>>; headers?: Record<string, string> } = { key: bytes(m.key), value: bytes(m.value)! };
    if (m.headers) out.headers = Object.assign({}, m.headers);
    return out;
  };
  const outputTopic = cfg.outputTopic;
  const dlqTopic = cfg.deadLetterTopic;
  const die = (e: unknown) => {
    if (fatal !== undefined) return;
    // Retrying in place would hide a broken model or cluster: stop without committing
    // past the failed batch and let a restart (or another member) take over.
    fatal = e;
    stopping = true;
    metrics?.errors.inc({ kind: 'fatal' });
    fail(e);
    notifyIdle();
    maybeResume();
  };

  type TopicMessages = { topic: string; messages: ReturnType<typeof toKafka>[] }[];
  // Exactly-once: batches queue up in hand-off order (so per partition in offset order);
  // one loop produces everything queued in one transaction with the input offsets it
  // reaches, commits it, and resolves the batches. A failed transaction is aborted (its
  // outputs never reach read_committed readers) and stops the stream.
  const txnQueue: { tracked: TrackedBatch; topicMessages: TopicMessages; resolve: () => void; reject: (e: unknown) => void }[] = [];
  let txnLoop = false;
  const transact = (tracked: TrackedBatch, topicMessages: TopicMessages) => new Promise<void>((resolve, reject) => {
    txnQueue.push({ tracked, topicMessages, resolve, reject });
    void runTransactions();
  });
  async function runTransactions(): Promise<void> {
    if (txnLoop) return;
    txnLoop = true;
    try {
      while (txnQueue.length > 0) {
        const group = txnQueue.splice(0);
        if (fatal !== undefined) {
          for (const g of group) g.reject(fatal);
          continue;
        }
        try {
          await producer.transaction();
          const byTopic = new Map<string, ReturnType<typeof toKafka>[]>();
          for (const g of group) {
            for (const t of g.topicMessages) {
              let list = byTopic.get(t.topic);
              if (list === undefined) byTopic.set(t.topic, (list = []));
              for (const m of t.messages) list.push(m);
            }
          }
          if (byTopic.size > 0) await producer.sendBatch({ topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
          const offsets = new Map<number, string>();
          for (const g of group) offsets.set(g.tracked.partition, g.tracked.nextOffset);
          await producer.sendOffsets({
            consumer: consumer as never,
            topics: [{ topic: cfg.inputTopic, partitions: [...offsets].map(([partition, offset]) => ({ partition, offset })) }],
          });
          await producer.commit();
          metrics?.commits.inc();
          for (const g of group) g.resolve();
        } catch (e) {
          await producer.abort().catch(() => {});
          for (const g of group) g.reject(e);
        }
      }
    } finally {
      txnLoop = false;
    }
  }

  await consumer.run({
    partitionsConsumedConcurrently: cfg.concurrency,
    eachBatch: async ({ batch, resolveOffset }) => {
      // After stop(): fetched but never committed, so the next member fetches it again.
      if (stopping || batch.messages.length === 0) return;
      const partition = batch.partition;
      // A batch of a partition revoked meanwhile: its next owner fetches it again.
      if (!assigned.has(partition)) return;
      const receivedAt = Date.now();
      const messages = batch.messages.map((m) => ({
        topic: batch.topic, partition, offset: m.offset, key: m.key, value: m.value,
      }));
      const last = messages[messages.length - 1]!.offset;
      // Consumed (not committed): a pause() below must not make the client fetch it again.
      resolveOffset(last);
      metrics?.consumed.inc({ topic: batch.topic }, messages.length);
      metrics?.fetchBatchSize.observe(undefined, messages.length);
      const tracked = tracker.begin(batch.topic, partition, (BigInt(last) + 1n).toString(), messages.length);
      const before = issued.get(partition);
      const handed = processor.process(messages, receivedAt).then(async (r) => {
        if (before) await before;
        const topicMessages = [];
        if (r.outputs.length > 0) topicMessages.push({ topic: outputTopic, messages: r.outputs.map(toKafka) });
        if (r.deadLetters.length > 0) topicMessages.push({ topic: dlqTopic, messages: r.deadLetters.map(toKafka) });
        if (eos) return { r, acked: transact(tracked, topicMessages) };
        // sendBatch hands every message to librdkafka before its first await: issued in order.
        const acked = topicMessages.length > 0 ? producer.sendBatch({ topicMessages }) : Promise.resolve([]);
        return { r, acked };
      });
      issued.set(partition, handed.then(() => {}, () => {}));
      handed.then(async ({ r, acked }) => {
        // Resolves once every message is acknowledged; rejects if any delivery failed.
        await acked;
        if (metrics) {
          if (r.outputs.length > 0) metrics.produced.inc({ topic: outputTopic, kind: 'output' }, r.outputs.length);
          if (r.deadLetters.length > 0) metrics.produced.inc({ topic: dlqTopic, kind: 'dead_letter' }, r.deadLetters.length);
          for (const code of r.deadLetterCodes) metrics.deadLetters.inc({ code });
          metrics.processingLatency.observe(undefined, (Date.now() - receivedAt) / 1000);
        }
        if (tracker.done(tracked) && fatal === undefined) void commit();
        maybeResume();
        notifyIdle();
      }).catch((e: unknown) => {
        metrics?.errors.inc({ kind: 'produce' });
        die(e);
      });
      if (tracker.inFlight > maxInFlight) await holdFetching();
    },
  });

  const joined = waitForAssignment(consumer, () => stopping, failed);
  joined.catch(() => {});
  let stopped: Promise<void> | undefined;
  return {
    joined, failed,
    get inFlight() { return tracker.inFlight; },
    get paused() { return paused; },
    stop() {
      stopped ??= (async () => {
        stopping = true;
        maybeResume();
        if (tracker.pendingBatches > 0 && fatal === undefined) await new Promise<void>((resolve) => idleWaiters.push(resolve));
        await flushCommits();
        await consumer.disconnect();
        await producer.disconnect();
        await processor.close();
      })();
      return stopped;
    },
  };
}

/**
 * Consumer lag of the input topic's assigned partitions, from librdkafka's statistics JSON:
 * the partition's high watermark minus the next offset this consumer will hand on
 * (`app_offset`, which `resolveOffset` stores), else minus the committed offset.
 * (librdkafka's own `consumer_lag` stays -1 until the group has committed through it.)
 */
function readLag(data: unknown, topic: string, assigned: ReadonlySet<number>, into: Map<number, number>): void {
  try {
    const json = typeof data === 'string' ? data : (data as { message?: string }).message;
    if (typeof json !== 'string') return;
    type P = { partition: number; hi_offset: number; app_offset: number; committed_offset: number; consumer_lag: number };
    const stats = JSON.parse(json) as { topics?: Record<string, { partitions?: Record<string, P> }> };
    for (const p of Object.values(stats.topics?.[topic]?.partitions ?? {})) {
      if (p.partition < 0 || !assigned.has(p.partition) || !(p.hi_offset >= 0)) continue;
      const at = p.app_offset >= 0 ? p.app_offset : p.committed_offset;
      const lag = at >= 0 ? p.hi_offset - at : p.consumer_lag;
      if (lag >= 0) into.set(p.partition, lag);
    }
  } catch {
    // A statistics line we cannot read: keep the last known lag.
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
function kafkaLogger(log: (line: string) => void, onError: () => void): KafkaJSNamespace.Logger {
  const emit = (level: string) => (message: string, extra?: object) =>
    log(`omniserve stream: kafka ${level}: ${message}${extra ? ` ${JSON.stringify(extra)}` : ''}`);
  const error = emit('error');
  const logger: KafkaJSNamespace.Logger = {
    debug: () => {}, info: () => {}, warn: emit('warn'), error: (m, e) => { onError(); error(m, e); },
    namespace: () => logger, setLogLevel: () => {},
  };
  return logger;
}
