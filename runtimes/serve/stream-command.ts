/**
 * `omniserve stream --config F`: Kafka events in, predictions out (at-least-once). Loads
 * the config's models, joins the consumer group, prints one `{"event":"streaming"}` line,
 * and runs until SIGTERM/SIGINT: then it stops fetching, finishes the batches in flight
 * (produce, commit), leaves the group and exits 0. A fatal error (broken model, failed
 * delivery) exits 1 without committing what was not delivered.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import process from 'node:process';
import { parseArgs } from 'node:util';
import type { Writable } from 'node:stream';
import { createEngine, type Engine, type Model, type RuntimeAdapter } from '../../src/index.ts';
import { applyStreamEnv, parseStreamConfig, type StreamConfig } from '../../src/stream/config.ts';
import { StreamProcessor } from '../../src/stream/processor.ts';
import { Errors, messageOf } from '../../src/errors.ts';
import { startKafkaStream } from '../native/stream-kafka.ts';
import { startMetricsServer, type MetricsServer } from '../native/stream-metrics-server.ts';
import { MetricsRegistry } from '../../src/metrics/registry.ts';
import { createStreamMetrics } from '../../src/stream/metrics.ts';
import { configDir } from './build-server.ts';
import type { FeatureRecord } from '../../src/core/features.ts';
import type { WorkerPool } from '../../src/core/worker-pool.ts';
import type { FeatureStore } from '../../src/features/types.ts';
import { createEnricher } from '../../src/stream/enrich.ts';
import { createNodeWorkerPool } from '../native/worker-pool.ts';
import { chooseWorkers, poolSession, serveFromPool } from './auto-workers.ts';
import { openFeatureStore } from '../native/feature-store.ts';

/** Graceful stop's longest wait before giving up (uncommitted batches are fetched again). */
const STOP_TIMEOUT_MS = 30_000;

/** Runs the stream until a signal stops it. Resolves with the exit code. */
export async function streamCommand(
  argv: readonly string[],
  runtime: () => RuntimeAdapter,
  io: { stdout: Writable; stderr: Writable },
): Promise<number> {
  const { values } = parseArgs({ args: [...argv], options: { config: { type: 'string' } } });
  if (!values.config) throw Errors.INVALID_CONFIG('omniserve stream needs --config F (with a "stream" section)');
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(values.config, 'utf8'));
  } catch (e) {
    throw Errors.INVALID_CONFIG(`${values.config}: ${messageOf(e)}`);
  }
  const cfg = applyStreamEnv(parseStreamConfig(raw, values.config), process.env);
  const engine = createEngine(runtime(), { backend: cfg.backend as never });
  const baseDir = configDir(values.config);
  let pool: WorkerPool | undefined;
  let store: FeatureStore | undefined;
  try {
    // The bytes the registry read (a path or a URL), for the worker pool.
    const bytesOf = new Map<Model, Uint8Array>();
    engine.models.onLoad(async (m, b) => { bytesOf.set(m, b); });
    const { model, entry } = await loadModels(engine, cfg, baseDir);
    const s = cfg.stream;
    // Heavy model (`workers`, or `auto` and a slow batch run): runs go to worker threads,
    // several at once.
    const { workers, runsIn } = await chooseWorkers(model, entry.workers);
    if (workers > 0) {
      pool = createNodeWorkerPool({ size: workers });
      await serveFromPool(pool, model, bytesOf.get(model)!, poolSession(workers, entry), runsIn!);
    }
    bytesOf.clear();
    if (s.enrich) store = await openFeatureStore(cfg.featureStore, (p) => at(baseDir, p));
    const runPool = pool;
    const registry = s.metrics ? new MetricsRegistry({ onCollectError: (m, e) => io.stderr.write(`omniserve stream: metric ${m}: ${messageOf(e)}\n`) }) : undefined;
    const metrics = registry ? createStreamMetrics(registry) : undefined;
    const processor = new StreamProcessor(model, {
      batchSize: s.batchSize, lingerMs: s.lingerMs, concurrency: s.concurrency, keyField: s.keyField,
      ...(runPool ? { predict: (r: readonly FeatureRecord[]) => runPool.predict(model.name, model.version, r), maxConcurrentRuns: workers } : {}),
      ...(store && s.enrich ? { enrich: createEnricher(store, s.enrich) } : {}),
      ...(metrics ? {
        onBatch: (rows: number, ms: number) => {
          metrics.inferenceBatchSize.observe(undefined, rows);
          metrics.inferenceLatency.observe(undefined, ms / 1000);
        },
      } : {}),
    });
    const log = (line: string) => void io.stderr.write(`${line}\n`);
    const stream = await startKafkaStream(s, processor, log, metrics ? { metrics } : {});
    let server: MetricsServer | undefined;
    let failedYet = false;
    stream.failed.catch(() => (failedYet = true));
    try {
      if (registry && s.metrics) server = await startMetricsServer(registry, s.metrics.port, s.metrics.host, () => !failedYet);
      const partitions = await Promise.race([stream.joined, stream.failed]).catch(async (e) => {
        await stream.stop().catch(() => {});
        throw e;
      });
      io.stdout.write(JSON.stringify({
        event: 'streaming', pid: process.pid, groupId: s.groupId, inputTopic: s.inputTopic, outputTopic: s.outputTopic,
        deadLetterTopic: s.deadLetterTopic, model: `${model.name}@${model.version}`, backend: model.backend.id, partitions,
        workers: entry.workers, exactlyOnce: s.exactlyOnce, ...(s.enrich ? { enrich: `${cfg.featureStore.kind} ${s.enrich.prefix}:<${s.enrich.keyField}>` } : {}),
        ...(server ? { metricsUrl: `http://${s.metrics!.host === '0.0.0.0' ? '127.0.0.1' : s.metrics!.host}:${server.port}/metrics` } : {}),
      }) + '\n');
      return await runUntilSignal(stream, processor, io);
    } finally {
      await server?.close();
    }
  } finally {
    await pool?.close();
    await store?.close();
    await engine.close();
  }
}

function runUntilSignal(
  stream: Awaited<ReturnType<typeof startKafkaStream>>,
  processor: StreamProcessor,
  io: { stderr: Writable },
): Promise<number> {
  return new Promise<number>((resolveExit) => {
    let stopping = false;
    const counts = () => `${processor.counts.scored} scored, ${processor.counts.deadLettered} dead-lettered`;
    const stop = async (why: string, code: number) => {
      if (stopping) return;
      stopping = true;
      io.stderr.write(`omniserve stream: ${why}: finishing batches in flight\n`);
      const timer = setTimeout(() => {
        io.stderr.write(`omniserve stream: stopping took over ${STOP_TIMEOUT_MS} ms, exiting (uncommitted events will be fetched again)\n`);
        resolveExit(1);
      }, STOP_TIMEOUT_MS);
      try {
        await stream.stop();
        io.stderr.write(`omniserve stream: stopped (${counts()})\n`);
        resolveExit(code);
      } catch (e) {
        io.stderr.write(`omniserve stream: error while stopping: ${messageOf(e)}\n`);
        resolveExit(1);
      } finally {
        clearTimeout(timer);
      }
    };
    process.once('SIGTERM', () => void stop('SIGTERM', 0));
    process.once('SIGINT', () => void stop('SIGINT', 0));
    stream.failed.catch((e: unknown) => void stop(`fatal: ${messageOf(e)}`, 1));
  });
}

const at = (baseDir: string, p: string) => (isAbsolute(p) || /^[a-z][a-z0-9+.-]*:/i.test(p) ? p : resolve(baseDir, p));

/** Loads every configured model; returns the one that scores (`stream.model`, else the first) and its entry. */
async function loadModels(engine: Engine, cfg: StreamConfig, baseDir: string): Promise<{ model: Model; entry: StreamConfig['models'][number] }> {
  let first: Model | undefined;
  const entries = new Map<string, StreamConfig['models'][number]>();
  for (const m of cfg.models) {
    const config = typeof m.config === 'string' ? JSON.parse(await readFile(at(baseDir, m.config), 'utf8')) : m.config;
    const model = await engine.models.load({
      source: at(baseDir, m.path), name: m.name, version: m.version, config, backend: m.backend as never, default: m.default,
      // Stream runs are many and small: one thread each unless the entry asks for more.
      session: { threads: m.threads ?? 1, spinning: m.spinning },
    });
    entries.set(model.name, m);
    first ??= model;
  }
  const name = cfg.stream.model ?? first!.name;
  const model = engine.models.get(name);
  return { model, entry: entries.get(model.name)! };
}
