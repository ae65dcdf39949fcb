/**
 * The async job worker: takes jobs from a queue, runs them through the serving core, stores
 * each result. Web-API-only; the server runs one in-process, `omniserve worker` runs more.
 *
 * Micro-batching: every claimed job is submitted to the model's dynamic batcher at once, so
 * jobs for one model merge into shared model runs, and the batcher re-runs a failed merged
 * run request by request, so one job's bad features fail that job alone.
 * @module
 */
import { isOmniserveError, messageOf } from '../errors.ts';
import { predictionView as view } from '../core/postprocess.ts';
import { featureSupplied } from '../core/features.ts';
import type { JobMetrics } from '../metrics/serving-metrics.ts';
import type { Serving } from '../serving/serving.ts';
import type { ClaimedJob, JobError, JobQueue, JobRecord } from './types.ts';

/** Options of {@link JobWorker}. */
export interface JobWorkerOptions {
  readonly queue: JobQueue;
  readonly serving: Serving;
  /** This worker's name in the consumer group (unique per worker process). */
  readonly consumer: string;
  /** Jobs in flight at most (default 256); claims top up to this. */
  readonly concurrency?: number;
  /** Longest wait for new work per claim (default 1,000 ms). */
  readonly blockMs?: number;
  /** Deadline of one job's model run, queueing included (default 30,000 ms). */
  readonly jobTimeoutMs?: number;
  readonly metrics?: JobMetrics;
  /**
   * Called once per job this worker settled for good (completed, failed, or dead-lettered),
   * after the record is stored. Webhook delivery (`callback_url`) plugs in here; a throw or
   * rejection is reported to `onError` and never affects the stored result.
   */
  readonly onFinal?: (job: JobRecord) => void | Promise<void>;
  /** Queue or hook errors the loop survived (default: console.error). */
  readonly onError?: (e: unknown) => void;
}

/** Runs the claim → predict → store loop until stopped. */
export class JobWorker {
  readonly #o: JobWorkerOptions;
  readonly #inflight = new Set<Promise<void>>();
  readonly #stop = new AbortController();
  #loop: Promise<void> | undefined;
  /** Jobs this worker settled: completed, failed. */
  readonly counts = { completed: 0, failed: 0, retried: 0 };

  constructor(options: JobWorkerOptions) {
    this.#o = options;
  }

  /** Starts the loop (idempotent). */
  start(): this {
    this.#loop ??= this.#run();
    return this;
  }

  /** Stops claiming, finishes the jobs in flight, then resolves. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
    await Promise.all(this.#inflight);
  }

  async #run(): Promise<void> {
    const { queue, consumer } = this.#o;
    const max = this.#o.concurrency ?? 256;
    let backoff = 0;
    while (!this.#stop.signal.aborted) {
      // Top up only when at least half the slots are free: fewer, larger claims.
      if (this.#inflight.size > max / 2) {
        await Promise.race(this.#inflight);
        continue;
      }
      let got;
      try {
        got = await queue.claim(consumer, max - this.#inflight.size, { blockMs: this.#o.blockMs ?? 1_000, signal: this.#stop.signal });
        backoff = 0;
      } catch (e) {
        // Queue unreachable (Redis down): keep trying, a little slower each time.
        this.#report(e);
        backoff = Math.min(1_000, backoff * 2 || 50);
        await sleep(backoff, this.#stop.signal);
        continue;
      }
      for (const job of got.dead) {
        this.#o.metrics?.failed.inc({ model: job.model, code: job.error?.code ?? 'INTERNAL' });
        this.counts.failed++;
        this.#final(job);
      }
      for (const c of got.jobs) {
        if (c.job.attempts > 1) {
          this.#o.metrics?.retried.inc({ model: c.job.model });
          this.counts.retried++;
        }
        const p = this.#runJob(c).catch((e) => this.#report(e)).finally(() => this.#inflight.delete(p));
        this.#inflight.add(p);
      }
    }
  }

  async #runJob(c: ClaimedJob): Promise<void> {
    const { queue, serving } = this.#o;
    const job = c.job;
    let result: unknown;
    try {
      const model = serving.model(job.model, job.version);
      const deadline = Date.now() + (this.#o.jobTimeoutMs ?? 30_000);
      const req = job.request;
      if (req.instances) {
        // Copies of the rows: packing replaces their arrays, and a retried job is stored again.
        const served = await serving.predict(model, req.instances.map(copyRow), deadline, { own: true });
        result = { predictions: served.map((s) => view(s.result)), model: model.name, model_version: model.version };
      } else {
        const record = await serving.assemble(req);
        const [served] = await serving.predict(model, [record], deadline);
        const names = Object.values(model.features).flat();
        result = {
          ...view(served!.result), model: model.name, model_version: model.version,
          features_used: names.filter((n) => featureSupplied(record, n)),
        };
      }
    } catch (e) {
      const error = jobError(e);
      // Request errors (4xx) will fail again: final at once. Server errors may pass: retry.
      const final = !retryable(e) || job.attempts >= queue.maxDeliveries;
      const done = await queue.fail(c, error, { final });
      if (!final) {
        this.#o.metrics?.retried.inc({ model: job.model });
        this.counts.retried++;
      } else if (done.stored) {
        this.#o.metrics?.failed.inc({ model: job.model, code: error.code });
        this.counts.failed++;
        this.#final(done.job);
      }
      return;
    }
    const done = await queue.complete(c, result);
    if (done.stored) {
      this.#o.metrics?.completed.inc({ model: job.model });
      this.counts.completed++;
      this.#final(done.job);
    }
  }

  #final(job: JobRecord): void {
    const created = Date.parse(job.created_at);
    if (Number.isFinite(created)) this.#o.metrics?.duration.observe({ model: job.model }, Math.max(0, Date.now() - created) / 1000);
    const hook = this.#o.onFinal;
    if (!hook) return;
    try {
      void Promise.resolve(hook(job)).catch((e) => this.#report(e));
    } catch (e) {
      this.#report(e);
    }
  }

  #report(e: unknown): void {
    if (this.#o.onError) this.#o.onError(e);
    else console.error(`omniserve worker ${this.#o.consumer}: ${messageOf(e)}`);
  }
}

/** Any thrown value as a stored job error: named errors keep their code, the rest are INTERNAL. */
export function jobError(e: unknown): JobError {
  if (isOmniserveError(e)) return { error: e.message, code: e.code };
  return { error: 'internal error while running the job', code: 'INTERNAL' };
}

/** Server-side trouble (5xx, unnamed errors) is worth another try; request errors are not. */
function retryable(e: unknown): boolean {
  return !isOmniserveError(e) || e.status >= 500;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}

/** A shallow copy of a stored row (anything else as it is, for the filler to name). */
const copyRow = (r: unknown): Readonly<Record<string, unknown>> =>
  (r !== null && typeof r === 'object' && !Array.isArray(r) ? { ...(r as Record<string, unknown>) } : r) as Readonly<Record<string, unknown>>;
