/**
 * The async queue a config describes, and a worker over it: shared by `omniserve serve`
 * (its in-process worker) and `omniserve worker`.
 * @module
 */
import { hostname } from 'node:os';
import process from 'node:process';
import type { ServerConfig } from '../../src/config/schema.ts';
import { Errors } from '../../src/errors.ts';
import type { JobMetrics } from '../../src/metrics/serving-metrics.ts';
import { createMemoryQueue } from '../../src/queue/memory-queue.ts';
import { pollQueueStats } from '../../src/queue/stats-poller.ts';
import type { JobQueue, JobRecord } from '../../src/queue/types.ts';
import { JobWorker } from '../../src/queue/worker.ts';
import type { Serving } from '../../src/serving/serving.ts';
import { createRedisQueue } from '../native/redis-queue.ts';

/** Creates the configured queue (not connected until first use). */
export function createJobQueue(cfg: ServerConfig): JobQueue {
  const q = cfg.queue;
  const settings = { ttlSeconds: q.ttlSeconds, claimIdleMs: q.claimIdleMs, maxDeliveries: q.maxDeliveries };
  if (q.kind === 'memory') return createMemoryQueue(settings);
  if (!q.url) throw Errors.INVALID_CONFIG('queue.url: a Redis URL is needed (or REDIS_URL)', { path: 'queue.url' });
  return createRedisQueue({ url: q.url, ...settings });
}

/** A unique consumer name: host, pid, and a random tail (a restarted pid is a new consumer). */
export function consumerName(): string {
  return `${hostname()}-${process.pid}-${crypto.randomUUID().slice(0, 8)}`;
}

/** A running worker plus the metrics poller; `stop` finishes jobs in flight. */
export interface RunningWorker {
  readonly worker: JobWorker;
  stop(): Promise<void>;
}

/** Starts a worker over `queue` with the config's settings. */
export function startJobWorker(
  cfg: ServerConfig,
  queue: JobQueue,
  serving: Serving,
  opts: { metrics?: JobMetrics; onFinal?: (job: JobRecord) => void | Promise<void>; consumer?: string } = {},
): RunningWorker {
  const worker = new JobWorker({
    queue, serving, consumer: opts.consumer ?? consumerName(),
    concurrency: cfg.queue.workerConcurrency, jobTimeoutMs: cfg.queue.jobTimeoutMs,
    metrics: opts.metrics, onFinal: opts.onFinal,
  }).start();
  return {
    worker,
    stop: () => worker.stop(),
  };
}

/** Feeds the queue gauges; returns a stop function. */
export const watchQueue = (queue: JobQueue, metrics: JobMetrics) => pollQueueStats(queue, metrics);
