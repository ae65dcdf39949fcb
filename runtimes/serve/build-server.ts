/**
 * Builds a whole server from a config: engine and models, feature store, cache, metrics,
 * serving core and the Hono app. Shared by Node, Bun and Deno (node:fs and ioredis work on
 * all three); the host only supplies the runtime adapter and how to listen.
 * @module
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { createEngine, type Engine, type RuntimeAdapter } from '../../src/index.ts';
import { createApp, type DemoFiles } from '../../src/http/app.ts';
import type { ModelEntryConfig, ServerConfig } from '../../src/config/schema.ts';
import type { FeatureStore } from '../../src/features/types.ts';
import { createMemoryCache } from '../../src/cache/memory-cache.ts';
import type { PredictionCache } from '../../src/cache/types.ts';
import { MetricsRegistry } from '../../src/metrics/registry.ts';
import { countFeatureCache, createServingMetrics } from '../../src/metrics/serving-metrics.ts';
import { Serving } from '../../src/serving/serving.ts';
import { Errors } from '../../src/errors.ts';
import { createRedisCache } from '../native/redis-cache.ts';
import { openFeatureStore } from '../native/feature-store.ts';
import { createNodeWorkerPool } from '../native/worker-pool.ts';
import { chooseWorkers, poolSession, serveFromPool } from './auto-workers.ts';
import type { WorkerPool } from '../../src/core/worker-pool.ts';
import { availableParallelism } from 'node:os';
import type { JobQueue } from '../../src/queue/types.ts';
import { createJobQueue, startJobWorker, watchQueue, type RunningWorker } from './job-queue.ts';
import { createJobWebhooks, type JobWebhookOptions, type JobWebhooks } from './job-webhooks.ts';

/** A built server, not yet listening. */
export interface BuiltServer {
  readonly engine: Engine;
  readonly serving: Serving;
  readonly app: ReturnType<typeof createApp>;
  readonly features?: FeatureStore;
  readonly cache?: PredictionCache;
  /** The async job queue (`queue` in the config; memory by default). */
  readonly queue: JobQueue;
  /** The in-process job worker, unless `queue.inProcessWorker` is false. */
  readonly worker?: RunningWorker;
  /** Job webhooks, when `webhooks.secret` is configured. */
  readonly webhooks?: JobWebhooks;
  close(): Promise<void>;
}

/** Options for tests. */
export interface BuildServerOptions {
  readonly webhooks?: JobWebhookOptions;
  /** Serve the browser demo at `/demo/` (`omniserve serve --demo`; runtimes/browser/host/demo-mount.ts). */
  readonly demo?: DemoFiles;
}

/**
 * From which declared size a request body is read into one buffer of its size rather than by
 * the host's own reader (AppOptions.sizedBodyFrom). `node --import tsx bench/body/run.ts`
 * (bench/results/body.md: server CPU per request, least of three rounds): Deno's
 * `arrayBuffer()` costs 2.2 vs 0.94 ms at 1 MiB and 10.2 vs 6.1 ms at 4 MiB, ties at
 * 128-256 KiB (an earlier run: 0.23 vs 0.15 ms at 128 KiB) and wins at 64 KiB; Node's ties or
 * wins at every size (12.2 vs 12.3 ms at 4 MiB) and Bun's wins at every size (4.7 vs 9.0 ms
 * at 4 MiB). So Deno from 128 KiB, the others never.
 */
function sizedBodies(host: string): { sizedBodyFrom?: number } {
  return host === 'deno' ? { sizedBodyFrom: 128 * 1024 } : {};
}

/** Builds everything a config describes. `baseDir` resolves relative paths in it. */
export async function buildServer(cfg: ServerConfig, runtime: RuntimeAdapter, baseDir: string, options: BuildServerOptions = {}): Promise<BuiltServer> {
  const at = (p: string) => (isAbsolute(p) || /^[a-z][a-z0-9+.-]*:/i.test(p) ? p : resolve(baseDir, p));
  const engine = createEngine(runtime, { backend: cfg.backend as never });
  const registry = new MetricsRegistry();
  const metrics = createServingMetrics(registry);
  let features: FeatureStore | undefined;
  let cache: PredictionCache | undefined;
  const perModel: Record<string, { maxBatchSize?: number; maxDelayMs?: number; maxQueueRows?: number }> = {};
  const pools = new Map<string, WorkerPool>();
  /** Each pool's session options and where its runs go, for the versions loaded into it later. */
  const poolSetup = new Map<string, { session: { threads: number; spinning: boolean }; runsIn: string }>();
  /** The config entry being loaded at startup (`models[].workers`, `threads`, `spinning`). */
  let starting: Pick<ModelEntryConfig, 'workers' | 'threads' | 'spinning'> | undefined;
  // Where a model's versions run is decided by its first: worker threads when its entry asks
  // (`workers: N`) or, by default, when a batch run is slow enough to hold up other requests
  // (auto-workers.ts). Every later version, at startup or loaded by the admin routes, goes to
  // the same place: into the pool from the bytes the registry read, before it takes traffic.
  engine.models.onLoad(async (model, bytes) => {
    if (!pools.has(model.name) && !engine.models.has(model.name)) {
      const choice = await chooseWorkers(model, starting?.workers ?? 'auto');
      if (choice.workers > 0) {
        pools.set(model.name, createNodeWorkerPool({ size: choice.workers }));
        poolSetup.set(model.name, { session: poolSession(choice.workers, starting ?? {}), runsIn: choice.runsIn! });
      }
    }
    const pool = pools.get(model.name);
    if (!pool) return;
    const setup = poolSetup.get(model.name)!;
    await serveFromPool(pool, model, bytes, setup.session, setup.runsIn);
  });
  try {
    for (const [i, m] of cfg.models.entries()) {
      const config = typeof m.config === 'string' ? JSON.parse(await readFile(at(m.config), 'utf8')) : m.config;
      try {
        const source = at(m.path);
        // onnxruntime's own default used one intra-op thread on the 2-core machine: say all cores.
        const threads = m.threads ?? (await smallModel(source) ? 1 : availableParallelism());
        starting = m;
        const model = await engine.models.load({
          source, name: m.name, version: m.version, config,
          backend: m.backend as never, default: m.default, session: { threads, spinning: m.spinning },
        }).finally(() => { starting = undefined; });
        // The versions of a model are served from one place: all in its pool, or all in-process.
        const placed = pools.get(model.name)?.stats().size ?? 0;
        if (m.workers !== 'auto' && m.workers !== placed) {
          throw Errors.INVALID_CONFIG(`models[${i}].workers: ${m.workers}, but model ${model.name} runs in ${placed || 'no'} worker threads (set by its first version); give every version of a model the same workers`,
            { path: `models[${i}].workers` });
        }
        // One merged run should be one session run: batch as large as the model takes.
        perModel[model.name] = { maxBatchSize: cfg.batching.maxBatchSize ?? model.config.maxBatchSize, ...m.batching };
        metrics.modelLoads.inc({ model: model.name, result: 'ok' });
      } catch (e) {
        metrics.modelLoads.inc({ model: m.name ?? m.path, result: 'error' });
        throw e;
      }
    }
    features = await openFeatureStore(cfg.featureStore, at, { onCacheLookup: countFeatureCache(metrics) });
    cache = createCache(cfg);
  } catch (e) {
    await Promise.all([...pools.values()].map((p) => p.close()));
    await engine.close();
    await features?.close();
    throw e;
  }
  const serving = new Serving(engine, {
    features, cache, metrics,
    cacheTtlMs: cfg.cache.kind === 'none' ? undefined : cfg.cache.ttlMs,
    batching: cfg.batching,
    perModelBatching: perModel,
    missingEntity: cfg.missingEntity,
    pools,
  });
  // After the serving core's own retire hook (which drains the version's batchers): a version
  // unloaded, not replaced in place, leaves its pool too (at shutdown the pools close first:
  // a closed pool has nothing left to unload, so its refusal is dropped).
  engine.models.onRetire(async (m) => {
    const pool = pools.get(m.name);
    if (pool && !engine.models.has(m.name, m.version)) await pool.unload(m.name, m.version).catch(() => {});
  });
  const queue = createJobQueue(cfg);
  const webhooks = createJobWebhooks(cfg, registry, options.webhooks);
  const stopWatch = watchQueue(queue, metrics.jobs);
  const worker = cfg.queue.inProcessWorker
    ? startJobWorker(cfg, queue, serving, { metrics: metrics.jobs, ...(webhooks ? { onFinal: webhooks.onFinal } : {}) })
    : undefined;
  // Deliveries run where jobs run: a server without a worker only reads their status.
  if (worker) webhooks?.start();
  const app = createApp({
    serving,
    queue,
    ...(webhooks ? { webhooks: { check: webhooks.check, status: webhooks.status } } : {}),
    metrics: { registry, serving: metrics },
    maxBodyBytes: cfg.server.maxBodyBytes,
    ...sizedBodies(engine.host.name),
    maxRecords: cfg.server.maxRecords,
    requestTimeoutMs: cfg.server.requestTimeoutMs,
    apiKeys: cfg.server.apiKeys,
    corsOrigins: cfg.server.corsOrigins,
    admin: cfg.server.admin,
    defaultModel: cfg.defaultModel,
    host: engine.host,
    ...(options.demo ? { demo: options.demo } : {}),
  });
  return {
    engine, serving, app, features, cache, queue, worker, webhooks,
    async close() {
      // Jobs in flight finish before the serving core stops taking work.
      await worker?.stop();
      // After the worker (its last jobs enqueue webhooks), before Redis connections close.
      await webhooks?.close();
      stopWatch();
      await serving.drain();
      await queue.close();
      await Promise.all([...pools.values()].map((p) => p.close()));
      await engine.close();
      await features?.close();
      await cache?.close();
    },
  };
}

function createCache(cfg: ServerConfig): PredictionCache | undefined {
  const c = cfg.cache;
  switch (c.kind) {
    case 'none':
      return undefined;
    case 'memory':
      return createMemoryCache({ maxEntries: c.maxEntries });
    case 'redis':
      if (!c.url) throw Errors.INVALID_CONFIG('cache.url: a Redis URL is needed (or REDIS_URL)', { path: 'cache.url' });
      return createRedisCache({ url: c.url });
  }
}

const SMALL_MODEL_BYTES = 4 << 20;

/** True for a local model file under 4 MiB (URLs: unknown size, onnxruntime's default). */
async function smallModel(source: string): Promise<boolean> {
  if (/^[a-z][a-z0-9+.-]*:/i.test(source) && !source.startsWith('file:')) return false;
  try {
    const { size } = await stat(source.startsWith('file:') ? new URL(source) : source);
    return size < SMALL_MODEL_BYTES;
  } catch {
    return false;
  }
}

/** The directory config-relative paths resolve against. */
export const configDir = (configPath: string) => dirname(resolve(configPath));
