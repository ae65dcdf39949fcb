/**
 * omniserve's standard metrics, all prefixed `omniserve_`. Process metrics (memory, CPU,
 * event loop) are deliberately absent: they need host APIs, and Workers and browsers have
 * none; a Node host can add its own to the same registry.
 * @module
 */
import type { Counter, Gauge, Histogram, MetricsRegistry } from './registry.ts';

/** Latency buckets in seconds, 0.5 ms … 10 s (a 1-2.5-5 ladder). */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Batch-size buckets in rows: powers of two up to 1024. */
export const BATCH_SIZE_BUCKETS: readonly number[] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/** A loaded model version as the info and timestamp gauges need it (`Model.metadata` fits). */
export interface LoadedModelInfo {
  readonly name: string;
  readonly version: string;
  readonly backend: string;
  /** ISO time of loading. */
  readonly loadedAt?: string;
}

/** A model's worker pool as the worker metrics need it (`WorkerPool.stats()` fits). */
export interface WorkerPoolInfo {
  readonly queued: number;
  readonly inFlight: number;
  readonly restarts: number;
  readonly workers: readonly { readonly state: string }[];
}

/** The states a pool's worker is counted in (`omniserve_model_workers{state}`). */
const WORKER_STATES = ['ready', 'starting', 'backoff', 'stopped'] as const;

/** Read at scrape time, so the gauges always show the live state (unloaded models vanish). */
export interface ServingMetricsSources {
  /** Worker pools of models served from worker threads: `[model, stats]` pairs. */
  readonly pools?: () => Iterable<readonly [model: string, stats: WorkerPoolInfo]>;
  /** Rows waiting in each model's batcher: `[model, rows]` pairs. */
  readonly queueRows?: () => Iterable<readonly [model: string, rows: number]>;
  /** Every loaded model version. */
  readonly models?: () => Iterable<LoadedModelInfo>;
}

/** The metric handles request handlers and the serving core update. */
export interface ServingMetrics {
  /** `omniserve_requests_total{model, version, route, status}`. */
  readonly requestsTotal: Counter<'model' | 'version' | 'route' | 'status'>;
  /** `omniserve_request_duration_seconds{model, route}`: whole request, queueing included. */
  readonly requestLatency: Histogram<'model' | 'route'>;
  /** `omniserve_requests_in_flight`: inc on entry, dec in `finally`. */
  readonly inFlight: Gauge;
  /** `omniserve_inference_duration_seconds{model, backend}`: one model run (a whole batch). */
  readonly inferenceLatency: Histogram<'model' | 'backend'>;
  /** `omniserve_batch_size_rows{model}`: rows per model run. */
  readonly batchSize: Histogram<'model'>;
  /** `omniserve_queue_rows{model}`: rows waiting to be batched (from `sources.queueRows`). */
  readonly queueRows: Gauge<'model'>;
  /** `omniserve_feature_store_duration_seconds{store}`: one feature-store lookup. */
  readonly featureStoreLatency: Histogram<'store'>;
  /** `omniserve_feature_store_errors_total{store}`. */
  readonly featureStoreErrors: Counter<'store'>;
  /** `omniserve_feature_cache_hits_total`: feature hashes served from the client-side cache (Redis `clientCache`). */
  readonly featureCacheHits: Counter;
  /** `omniserve_feature_cache_misses_total`: feature hashes the client-side cache read from Redis. */
  readonly featureCacheMisses: Counter;
  /** `omniserve_cache_hits_total{model}`: rows answered from the prediction cache. */
  readonly cacheHits: Counter<'model'>;
  /** `omniserve_cache_misses_total{model}`: rows that had to be scored. */
  readonly cacheMisses: Counter<'model'>;
  /** `omniserve_model_loads_total{model, result}`: `result` is `ok` or `error`. */
  readonly modelLoads: Counter<'model' | 'result'>;
  /** `omniserve_backend_info{model, version, backend} 1` (from `sources.models`). */
  readonly backendInfo: Gauge<'model' | 'version' | 'backend'>;
  /** `omniserve_model_loaded_timestamp_seconds{model, version}` (from `sources.models`). */
  readonly modelLoadedTime: Gauge<'model' | 'version'>;
  /** `omniserve_model_workers{model, state}`: worker threads per state, for pooled models. */
  readonly workers: Gauge<'model' | 'state'>;
  /** `omniserve_model_worker_calls{model, where}`: batches running in or waiting for a worker. */
  readonly workerCalls: Gauge<'model' | 'where'>;
  /** `omniserve_model_worker_restarts_total{model}`. */
  readonly workerRestarts: Counter<'model'>;
  /** Replaces the scrape-time sources (for when the serving core is built after the metrics). */
  setSources(sources: ServingMetricsSources): void;
  /** Async job metrics (`omniserve_jobs_*`, `omniserve_job_*`). */
  readonly jobs: JobMetrics;
}

/** A snapshot of the async queue, read at scrape time (the queue's own stats are async). */
export interface JobQueueSnapshot {
  readonly depth: number;
  readonly oldestAgeMs: number;
}

/** Async job metrics: counters by model, queue gauges from a snapshot source. */
export interface JobMetrics {
  /** `omniserve_jobs_submitted_total{model}` (repeats of an idempotency key not counted). */
  readonly submitted: Counter<'model'>;
  /** `omniserve_jobs_completed_total{model}`. */
  readonly completed: Counter<'model'>;
  /** `omniserve_jobs_failed_total{model, code}`: final failures (delivery limit included). */
  readonly failed: Counter<'model' | 'code'>;
  /** `omniserve_jobs_retried_total{model}`: jobs put back after a server error, or reclaimed from a silent worker. */
  readonly retried: Counter<'model'>;
  /** `omniserve_job_duration_seconds{model}`: submit to final result. */
  readonly duration: Histogram<'model'>;
  /** Sets where `omniserve_job_queue_depth` and `omniserve_job_queue_oldest_age_seconds` read from. */
  setQueueSource(read: () => JobQueueSnapshot | undefined): void;
}

/** A client-side feature cache's `onLookup` hook, counting into `omniserve_feature_cache_{hits,misses}_total`. */
export function countFeatureCache(m: ServingMetrics): (hits: number, misses: number) => void {
  return (hits, misses) => {
    if (hits) m.featureCacheHits.inc(undefined, hits);
    if (misses) m.featureCacheMisses.inc(undefined, misses);
  };
}

/** Registers omniserve's standard metrics on `registry` and returns their handles. */
export function createServingMetrics(registry: MetricsRegistry, sources: ServingMetricsSources = {}): ServingMetrics {
  let src = sources;
  return {
    requestsTotal: registry.counter({
      name: 'omniserve_requests_total', help: 'HTTP requests answered, by model, version, route and status code.',
      labelNames: ['model', 'version', 'route', 'status'],
    }),
    requestLatency: registry.histogram({
      name: 'omniserve_request_duration_seconds', help: 'Time to answer an HTTP request, queueing included.',
      labelNames: ['model', 'route'], buckets: LATENCY_BUCKETS_SECONDS,
    }),
    inFlight: registry.gauge({ name: 'omniserve_requests_in_flight', help: 'HTTP requests being answered now.' }),
    inferenceLatency: registry.histogram({
      name: 'omniserve_inference_duration_seconds', help: 'Time of one model run (one batch), by model and backend.',
      labelNames: ['model', 'backend'], buckets: LATENCY_BUCKETS_SECONDS,
    }),
    batchSize: registry.histogram({
      name: 'omniserve_batch_size_rows', help: 'Rows per model run after dynamic batching.',
      labelNames: ['model'], buckets: BATCH_SIZE_BUCKETS,
    }),
    queueRows: registry.gauge({
      name: 'omniserve_queue_rows', help: 'Rows waiting in the dynamic batcher, by model.', labelNames: ['model'],
      collect: () => sumByModel(src.queueRows?.() ?? []),
    }),
    featureStoreLatency: registry.histogram({
      name: 'omniserve_feature_store_duration_seconds', help: 'Time of one feature-store lookup, by store kind.',
      labelNames: ['store'], buckets: LATENCY_BUCKETS_SECONDS,
    }),
    featureStoreErrors: registry.counter({
      name: 'omniserve_feature_store_errors_total', help: 'Feature-store lookups that failed, by store kind.', labelNames: ['store'],
    }),
    featureCacheHits: registry.counter({
      name: 'omniserve_feature_cache_hits_total', help: 'Feature hashes served from the client-side cache (Redis clientCache).',
    }),
    featureCacheMisses: registry.counter({
      name: 'omniserve_feature_cache_misses_total', help: 'Feature hashes the client-side cache had to read from Redis.',
    }),
    cacheHits: registry.counter({
      name: 'omniserve_cache_hits_total', help: 'Rows answered from the prediction cache, by model.', labelNames: ['model'],
    }),
    cacheMisses: registry.counter({
      name: 'omniserve_cache_misses_total', help: 'Rows not in the prediction cache, by model.', labelNames: ['model'],
    }),
    modelLoads: registry.counter({
      name: 'omniserve_model_loads_total', help: 'Model loads, by model and result (ok or error).', labelNames: ['model', 'result'],
    }),
    backendInfo: registry.gauge({
      name: 'omniserve_backend_info', help: 'Always 1: the backend each loaded model version runs on.',
      labelNames: ['model', 'version', 'backend'],
      collect: () => [...(src.models?.() ?? [])].map((m) => [{ model: m.name, version: m.version, backend: m.backend }, 1] as const),
    }),
    workers: registry.gauge({
      name: 'omniserve_model_workers', help: 'Worker threads of models served from worker threads, by model and state (ready, starting, backoff after a crash, stopped).',
      labelNames: ['model', 'state'],
      collect: () => [...(src.pools?.() ?? [])].flatMap(([model, p]) =>
        WORKER_STATES.map((state) => [{ model, state }, p.workers.filter((w) => w.state === state).length] as const)),
    }),
    workerCalls: registry.gauge({
      name: 'omniserve_model_worker_calls', help: 'Batches of models served from worker threads, running in a worker or waiting for one, by model and where.',
      labelNames: ['model', 'where'],
      collect: () => [...(src.pools?.() ?? [])].flatMap(([model, p]) =>
        [[{ model, where: 'running' }, p.inFlight], [{ model, where: 'waiting' }, p.queued]] as const),
    }),
    workerRestarts: registry.counter({
      name: 'omniserve_model_worker_restarts_total', help: 'Worker threads started again after one died, by model.',
      labelNames: ['model'],
      collect: () => [...(src.pools?.() ?? [])].map(([model, p]) => [{ model }, p.restarts] as const),
    }),
    modelLoadedTime: registry.gauge({
      name: 'omniserve_model_loaded_timestamp_seconds', help: 'When each loaded model version was loaded (Unix time).',
      labelNames: ['model', 'version'],
      collect: () => [...(src.models?.() ?? [])].filter((m) => m.loadedAt !== undefined)
        .map((m) => [{ model: m.name, version: m.version }, Date.parse(m.loadedAt!) / 1000] as const),
    }),
    setSources(next) {
      src = next;
    },
    jobs: createJobMetrics(registry),
  };
}

/** Job latency buckets: 1 ms … 5 min (async work is measured in seconds). */
const JOB_BUCKETS_SECONDS: readonly number[] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

function createJobMetrics(registry: MetricsRegistry): JobMetrics {
  let queue: () => JobQueueSnapshot | undefined = () => undefined;
  registry.gauge({
    name: 'omniserve_job_queue_depth', help: 'Async jobs waiting or being worked on.',
    collect: () => {
      const s = queue();
      return s ? [[{}, s.depth] as const] : [];
    },
  });
  registry.gauge({
    name: 'omniserve_job_queue_oldest_age_seconds', help: 'Age of the oldest async job waiting or being worked on.',
    collect: () => {
      const s = queue();
      return s ? [[{}, s.oldestAgeMs / 1000] as const] : [];
    },
  });
  return {
    submitted: registry.counter({ name: 'omniserve_jobs_submitted_total', help: 'Async jobs submitted, by model.', labelNames: ['model'] }),
    completed: registry.counter({ name: 'omniserve_jobs_completed_total', help: 'Async jobs completed, by model.', labelNames: ['model'] }),
    failed: registry.counter({
      name: 'omniserve_jobs_failed_total', help: 'Async jobs failed for good, by model and error code.', labelNames: ['model', 'code'],
    }),
    retried: registry.counter({
      name: 'omniserve_jobs_retried_total', help: 'Async jobs run again (server error, or reclaimed from a silent worker), by model.',
      labelNames: ['model'],
    }),
    duration: registry.histogram({
      name: 'omniserve_job_duration_seconds', help: 'Time from submitting an async job to its final result, by model.',
      labelNames: ['model'], buckets: JOB_BUCKETS_SECONDS,
    }),
    setQueueSource(read) {
      queue = read;
    },
  };
}

// Several batchers can serve one model (one per version); the gauge is by model.
function sumByModel(pairs: Iterable<readonly [string, number]>): [{ model: string }, number][] {
  const sums = new Map<string, number>();
  for (const [model, rows] of pairs) sums.set(model, (sums.get(model) ?? 0) + rows);
  return [...sums].map(([model, rows]) => [{ model }, rows]);
}
