/**
 * The serving core shared by every entry point that answers predictions (HTTP routes now,
 * async workers later): feature-store lookup, prediction cache, one dynamic batcher per
 * model version, deadlines, and draining on shutdown. Web-API-only.
 * @module
 */
import { Errors } from '../errors.ts';
import type { Engine } from '../engine.ts';
import { DynamicBatcher } from '../core/batcher.ts';
import { LayeredRecord, plainRecord, type FeatureRecord, type FeatureRow } from '../core/features.ts';
import type { Model } from '../core/model.ts';
import type { PredictionResult } from '../core/postprocess.ts';
import type { TensorData } from '../core/tensor.ts';
import type { WorkerPool } from '../core/worker-pool.ts';
import type { FeatureStore, FeatureValues } from '../features/types.ts';
import type { PredictionCache } from '../cache/types.ts';
import { predictionCacheKey } from '../cache/cache-key.ts';
import type { ServingMetrics } from '../metrics/serving-metrics.ts';
import { jobRecords, runTensorJobs, tensorJob } from './tensor-jobs.ts';

/** Dynamic batching settings (per model, with server-wide defaults). */
export interface BatchingOptions {
  readonly maxBatchSize?: number;
  readonly maxDelayMs?: number;
  readonly maxQueueRows?: number;
}

/** Options of the serving core. */
export interface ServingOptions {
  readonly features?: FeatureStore;
  readonly cache?: PredictionCache;
  readonly cacheTtlMs?: number;
  readonly batching?: BatchingOptions;
  readonly perModelBatching?: Readonly<Record<string, BatchingOptions>>;
  /** A `user_id`/`item_id` not in the store: refuse (404) or go on with defaults. */
  readonly missingEntity?: 'error' | 'defaults';
  readonly metrics?: ServingMetrics;
  /**
   * Worker pools by model name (config `models[].workers`). The host builds them (Node, Bun,
   * Deno: `createNodeWorkerPool`) and loads the model's version into them; batches and OIP
   * tensors of a pooled model run there, the in-process `Model` still answers metadata.
   */
  readonly pools?: ReadonlyMap<string, WorkerPool>;
}

/** A seed-style request: entity ids, context, and/or direct features. */
export interface EntityRequest {
  readonly user_id?: string | number;
  readonly item_id?: string | number;
  readonly context?: Readonly<Record<string, unknown>>;
  readonly features?: Readonly<Record<string, unknown>>;
}

/** One answered row with where its answer came from. */
export interface ServedResult {
  readonly result: PredictionResult;
  readonly cached: boolean;
}

/** Wires engine, feature store, cache, batchers and metrics together. */
export class Serving {
  readonly #batchers = new Map<Model, DynamicBatcher<PredictionResult>>();
  /** Tensor requests (OIP infer), batched apart from records: they run other code. */
  readonly #tensorBatchers = new Map<Model, DynamicBatcher<Record<string, TensorData>>>();
  #draining = false;

  constructor(readonly engine: Engine, readonly options: ServingOptions = {}) {
    // Gauges read at scrape time: queue depth per model, and which backend each version uses.
    options.metrics?.setSources({
      queueRows: () => engine.models.list().map((m) => [m.name, this.queueRows(m.name)] as [string, number]),
      models: () => engine.models.list().flatMap((m) => m.versions.map((v) => engine.models.get(m.name, v).metadata)),
      pools: () => [...(options.pools ?? [])].map(([name, pool]) => [name, pool.stats()] as const),
    });
    // A replaced or unloaded version first finishes what its batcher holds.
    engine.models.onRetire(async (m) => {
      const bs = [this.#batchers.get(m), this.#tensorBatchers.get(m)];
      this.#batchers.delete(m);
      this.#tensorBatchers.delete(m);
      await Promise.all(bs.map((b) => b?.close()));
    });
  }

  /** True while accepting work (flipped by `drain()`). */
  get ready(): boolean {
    return !this.#draining;
  }

  /** Rows queued across all models (for the queue-depth gauge and overload answers). */
  queueRows(model?: string): number {
    let n = 0;
    for (const [m, b] of this.#batchers) if (model === undefined || m.name === model) n += b.queueRows;
    for (const [m, b] of this.#tensorBatchers) if (model === undefined || m.name === model) n += b.queueRows;
    return n;
  }

  /** The model version a request addresses (default version when omitted). */
  model(name: string, version?: string): Model {
    return this.engine.models.get(name, version);
  }

  /**
   * Scores records through the model's batcher (and the cache, when configured).
   * `opts.own`: the records were parsed for this call alone (a request's `instances`), so
   * the JSON arrays they give float inputs are replaced in place by checked typed rows
   * before they queue ({@link Model.packRows}; cache keys are taken before): a bad row fails
   * its request at once, and the parsed arrays die young instead of waiting in the queue.
   */
  async predict(model: Model, records: readonly FeatureRow[], deadline?: number, opts?: { readonly own?: boolean }): Promise<ServedResult[]> {
    if (this.#draining) throw Errors.SHUTTING_DOWN('the server is shutting down');
    // Reloaded while this request was on its way (feature lookup): use the version now served.
    if (model.retiring) model = this.model(model.name, model.version);
    const cache = this.options.cache;
    if (!cache) {
      if (opts?.own) model.packRows(records);
      const results = await this.#batcher(model).submit(records, { deadline });
      return results.map((result) => ({ result, cached: false }));
    }
    const keys = await Promise.all(records.map((r) => predictionCacheKey(model.name, model.version, plainRecord(r))));
    if (opts?.own) model.packRows(records);
    const hits = await Promise.all(keys.map((k) => cache.get(k)));
    const missIdx: number[] = [];
    hits.forEach((h, i) => {
      if (h === undefined) missIdx.push(i);
    });
    this.options.metrics?.cacheHits.inc({ model: model.name }, records.length - missIdx.length);
    this.options.metrics?.cacheMisses.inc({ model: model.name }, missIdx.length);
    if (model.retiring) model = this.model(model.name, model.version);
    const fresh = missIdx.length ? await this.#batcher(model).submit(missIdx.map((i) => records[i]!), { deadline }) : [];
    const ttl = this.options.cacheTtlMs ?? 60_000;
    await Promise.all(fresh.map((r, j) => cache.set(keys[missIdx[j]!]!, r, ttl)));
    const out: ServedResult[] = hits.map((h) => ({ result: h as PredictionResult, cached: true }));
    fresh.forEach((r, j) => (out[missIdx[j]!] = { result: r, cached: false }));
    return out;
  }

  /**
   * Runs raw tensors (the OIP path) through the model's tensor batcher: concurrent requests
   * that agree on dtypes and inner dims share a run; the queue bound and `deadline` apply as
   * on the record path. In the model's worker pool when it has one.
   */
  async infer(model: Model, feeds: Readonly<Record<string, TensorData>>, deadline?: number): Promise<Record<string, TensorData>> {
    if (this.#draining) throw Errors.SHUTTING_DOWN('the server is shutting down');
    if (model.retiring) model = this.model(model.name, model.version);
    const [out] = await this.#tensorBatcher(model).submit(jobRecords(tensorJob(feeds)), { deadline });
    return out!;
  }

  /**
   * The row of a request: entity hashes (`user:{id}`, `item:{id}`), context and direct
   * features, later sources winning; several sources are layered, not copied.
   */
  async assemble(req: EntityRequest): Promise<FeatureRow> {
    const keys: string[] = [];
    if (req.user_id !== undefined) keys.push(`user:${req.user_id}`);
    if (req.item_id !== undefined) keys.push(`item:${req.item_id}`);
    let found: (FeatureValues | null)[] = [];
    if (keys.length) {
      const store = this.options.features;
      if (!store) throw Errors.FEATURE_STORE_UNAVAILABLE('this server has no feature store; send features directly');
      const t0 = performance.now();
      try {
        found = await store.getMany(keys);
      } finally {
        this.options.metrics?.featureStoreLatency.observe({ store: store.kind }, (performance.now() - t0) / 1000);
      }
      if (this.options.missingEntity !== 'defaults') {
        const missing = keys.filter((_, i) => found[i] === null);
        if (missing.length) {
          throw Errors.ENTITY_NOT_FOUND(`not in the feature store: ${missing.join(', ')}`, { keys: missing });
        }
      }
    }
    // One source: it is the record (the body was parsed for this request alone, a store
    // hash was decoded for it): copying 30 keys was a visible share of a request's CPU.
    if (keys.length === 0 && !req.context && req.features) return req.features;
    if (keys.length === 0 && req.context && !req.features) return req.context;
    // Later sources win: user, item, context, direct features.
    const layers: FeatureRecord[] = [];
    for (const f of found) if (f !== null) layers.push(f);
    if (req.context) layers.push(req.context);
    if (req.features) layers.push(req.features);
    return layers.length === 1 ? layers[0]! : new LayeredRecord(layers);
  }

  /** Stops taking work, lets queued and in-flight work finish. */
  async drain(): Promise<void> {
    this.#draining = true;
    const all = [...this.#batchers.values(), ...this.#tensorBatchers.values()];
    for (const b of all) b.close();
    await Promise.all(all.map((b) => b.drain()));
  }

  #tensorBatcher(model: Model): DynamicBatcher<Record<string, TensorData>> {
    let b = this.#tensorBatchers.get(model);
    if (!b) {
      const pool = this.options.pools?.get(model.name);
      const infer = pool
        ? (feeds: Readonly<Record<string, TensorData>>) => pool.infer(model.name, model.version, feeds)
        : (feeds: Readonly<Record<string, TensorData>>) => model.infer(feeds);
      b = this.#newBatcher(model, (records) => runTensorJobs(records, infer));
      this.#tensorBatchers.set(model, b);
    }
    return b;
  }

  #batcher(model: Model): DynamicBatcher<PredictionResult> {
    let b = this.#batchers.get(model);
    if (!b) {
      const pool = this.options.pools?.get(model.name);
      b = this.#newBatcher(model, pool
        // Worker threads get plain records (a class instance does not survive postMessage).
        ? (records) => pool.predict(model.name, model.version, records.map(plainRecord))
        : (records) => model.predict(records));
      this.#batchers.set(model, b);
    }
    return b;
  }

  /** A batcher for `model` with its batching settings and the batch-size and latency histograms. */
  #newBatcher<R>(model: Model, run: (records: readonly FeatureRow[]) => Promise<R[]>): DynamicBatcher<R> {
    const metrics = this.options.metrics;
    return new DynamicBatcher<R>(run, {
      // One merged batch per worker at a time: batches stay large, and requests wait in one
      // place, the batcher's queue (maxQueueRows → OVERLOADED, deadlines, aborts).
      maxConcurrent: this.options.pools?.get(model.name)?.stats().size,
      ...this.options.batching,
      ...this.options.perModelBatching?.[model.name],
      onBatch: metrics
        ? (rows: number, ms: number) => {
            metrics.batchSize.observe({ model: model.name }, rows);
            metrics.inferenceLatency.observe({ model: model.name, backend: model.backend.id }, ms / 1000);
          }
        : undefined,
    });
  }
}
