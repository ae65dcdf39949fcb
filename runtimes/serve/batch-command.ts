/**
 * `omniserve batch --config F --input GLOB --output DIR [--partition-by COL] [--resume]
 * [--incremental --watermark-column COL] [--shard i/n] [--redis URL]`: Parquet in, scored
 * Parquet out, per the batch contract in docs/batch.md. With --redis the units go to
 * `omniserve batch --worker --redis URL` processes (runtimes/native/batch-redis.ts).
 * Exit codes: 0 committed (or nothing new), 1 error, 2 usage, 3 some inputs or units
 * failed (the manifest lists them; --resume retries them).
 * @module
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Writable } from 'node:stream';
import { createEngine, parseBackendRequest, type RuntimeAdapter } from '../../src/index.ts';
import { parseBatchConfig } from '../../src/batch/config.ts';
import { createProgress } from '../../src/batch/progress.ts';
import { BatchUsageError, runBatch } from '../../src/batch/run.ts';
import { featureInput } from '../../src/batch/score.ts';
import { parseShard } from '../../src/batch/plan.ts';
import { expandInputs, nodeBatchHost } from '../native/batch-io.ts';
import { createBatchPool, startBatchPool } from '../native/batch-pool.ts';
import type { BatchRedisOptions } from '../native/batch-redis.ts';
import { untilSignal } from './until-signal.ts';

/** Redis (ioredis: ~0.1 s to load) only for --redis runs and --worker. */
const redisSide = () => Promise.all([import('../native/batch-redis.ts'), import('../native/redis-store.ts')])
  .then(([b, s]) => ({ ...b, redactUrl: s.redactUrl }));

/** Runs the command; returns the exit code. Usage mistakes throw BatchUsageError. */
export async function batchCommand(args: readonly string[], runtime: () => RuntimeAdapter, io: { stdout: Writable; stderr: Writable }): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      config: { type: 'string' }, input: { type: 'string' }, output: { type: 'string' },
      'partition-by': { type: 'string' }, resume: { type: 'boolean', default: false },
      incremental: { type: 'boolean', default: false }, 'watermark-column': { type: 'string' },
      shard: { type: 'string' }, redis: { type: 'string' }, worker: { type: 'boolean', default: false },
      workers: { type: 'string' }, 'claim-idle-ms': { type: 'string' }, 'max-deliveries': { type: 'string' },
    },
  });
  const positive = (name: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1) throw new BatchUsageError(`--${name} must be a positive integer`);
    return n;
  };
  const redis = values.redis === undefined ? undefined : {
    url: values.redis, claimIdleMs: positive('claim-idle-ms', values['claim-idle-ms']) ?? 30_000,
    maxDeliveries: positive('max-deliveries', values['max-deliveries']) ?? 5,
  };
  if (values.worker) {
    if (!redis) throw new BatchUsageError('--worker needs --redis URL (the coordinator\'s Redis)');
    return workerMode(redis, positive('workers', values.workers) ?? availableParallelism(), io.stderr);
  }
  if (!values.config || !values.input || !values.output) throw new BatchUsageError('--config, --input and --output are required');
  if (values.incremental !== (values['watermark-column'] !== undefined)) throw new BatchUsageError('--incremental and --watermark-column go together');
  const shard = values.shard === undefined ? undefined : parseShard(values.shard);
  if (values.shard !== undefined && !shard) throw new BatchUsageError(`--shard ${values.shard}: expected i/n with 0 <= i < n (e.g. 0/4)`);
  const configPath = resolve(values.config);
  const parsed = parseBatchConfig(JSON.parse(await readFile(configPath, 'utf8')), configPath);
  const base = dirname(configPath);
  // A memory store's file is relative to the config file; workers get it absolute.
  const e = parsed.enrich;
  const config = e?.store.kind === 'memory' ? { ...parsed, enrich: { ...e, store: { ...e.store, path: resolve(base, e.store.path) } } } : parsed;
  const modelPath = resolve(base, config.model.path);
  const modelConfig = config.model.config === undefined ? JSON.parse(await readFile(`${modelPath.replace(/\.onnx$/, '')}.config.json`, 'utf8').catch(() => '{}'))
    : JSON.parse(await readFile(resolve(base, config.model.config), 'utf8'));
  const inputs = await expandInputs(values.input);
  if (inputs.length === 0) throw new BatchUsageError(`--input ${values.input} matches no file`);
  const modelSpec = { path: modelPath, config: modelConfig, ...(config.model.backend ? { backend: config.model.backend } : {}) };

  // Worker threads boot (modules, model, parquet-wasm) while the main thread plans.
  const pool = !redis && config.workers !== 0 ? startBatchPool(modelSpec, config.workers ?? availableParallelism()) : undefined;
  // The main thread loads the model once too: its feature list is checked against every
  // input's columns before any scoring, and workers: 0 scores with it.
  const engine = createEngine(runtime());
  try {
    const model = await engine.models.load({ source: modelPath, config: modelConfig, backend: parseBackendRequest(config.model.backend) });
    const fi = featureInput(model);
    const host = nodeBatchHost();
    const stderr = io.stderr as Writable & { isTTY?: boolean };
    const summary = await runBatch({
      inputs, outDir: resolve(values.output), config,
      model: { name: model.name, version: model.version, features: fi.features },
      ...(values['partition-by'] ? { partitionBy: values['partition-by'] } : {}),
      resume: values.resume, ...(shard ? { shard } : {}), ...(values.incremental ? { incremental: { column: values['watermark-column']! } } : {}),
      newRunId: randomUUID, remoteWriters: redis !== undefined,
      onEvent: createProgress((t) => stderr.write(t), stderr.isTTY === true),
      executor: async (settings) => {
        if (redis) {
          const { createRedisCoordinator, redactUrl } = await redisSide();
          io.stderr.write(`omniserve batch: run ${settings.runId}: units on ${redactUrl(redis.url)} for omniserve batch --worker processes\n`);
          return createRedisCoordinator({ ...redis, log: (line) => io.stderr.write(`omniserve batch: ${line}\n`) }, { settings, model: modelSpec });
        }
        if (config.workers === 0) {
          const { UnitRunner } = await import('../../src/batch/unit.ts');
          const runner = new UnitRunner(model, fi, host, settings);
          return { capacity: 1, run: (u) => runner.run(u), close: async () => {} };
        }
        return pool!.executor(settings);
      },
    }, host);
    // The run is over (every unit answered): its Redis keys go, also when a resumed
    // coordinator found every unit recorded and never queued one.
    if (redis && summary.manifest && summary.status !== 'nothing-new') await (await redisSide()).forgetCoordinatedRun(redis, summary.manifest.runId);
    io.stdout.write(JSON.stringify({ status: summary.status, message: summary.message, runId: summary.manifest?.runId, rows: summary.manifest?.rows,
      failedUnits: summary.manifest?.failedUnits.length ?? 0, failedInputs: summary.manifest?.failedInputs.length ?? 0 }) + '\n');
    return summary.status === 'failed' ? 3 : 0;
  } finally {
    await pool?.close();
    await engine.close();
  }
}

/**
 * `omniserve batch --worker --redis URL [--workers N]`: scores units of coordinated runs
 * with N worker threads (default: one per core) until SIGTERM/SIGINT, then finishes the
 * units it holds. The run (model, settings) comes from Redis.
 */
async function workerMode(redis: BatchRedisOptions, threads: number, stderr: Writable): Promise<number> {
  const log = (line: string) => stderr.write(`omniserve batch --worker: ${line}\n`);
  const { startBatchWorker, redactUrl } = await redisSide();
  const worker = startBatchWorker({ ...redis, lanes: threads, log }, (run) => createBatchPool(run.model, run.settings, threads));
  log(`claiming units on ${redactUrl(redis.url)} with ${threads} thread(s)`);
  let failed: unknown;
  worker.done.catch((e) => { failed = e; });
  const code = await Promise.race([
    untilSignal({ name: 'omniserve batch --worker', stderr, timeoutMs: 120_000, stopping: 'finishing the units held', stop: async () => { await worker.stop(); return `${worker.finished()} units`; } }),
    worker.done.then(() => 0, () => 1),
  ]);
  if (failed) log(`stopped: ${String((failed as Error).message ?? failed)}`);
  return code;
}
