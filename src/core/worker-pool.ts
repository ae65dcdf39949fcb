/**
 * A pool of inference workers that says no, so heavy models never block the event loop. Every
 * worker holds every model the pool loaded; a call goes to the least-busy ready worker or waits
 * in a bounded queue (full → OVERLOADED at once). A dead worker fails its in-flight calls with
 * INFERENCE_FAILED (not retried: a request that crashed one worker would crash the next) and is
 * replaced, its models re-loaded, after a back-off; after `maxCrashes` in a window, no more.
 * Web-API-only: the host supplies `spawn` (Node: `runtimes/native/worker-pool.ts`; Web Workers:
 * `fromWebWorker` in `workers/inference.worker.ts`).
 * @module
 */
import * as Comlink from 'comlink';
import type { Remote } from 'comlink';
import { Errors, messageOf, type OmniserveError } from '../errors.ts';
import {
  fromWireError, transferTensors, type InferenceWorkerApi, type PoolWorker, type WorkerLoadOptions,
} from '../../workers/inference.worker.ts';
import type { FeatureRecord } from './features.ts';
import type { ModelMetadata } from './model.ts';
import type { PredictionResult } from './postprocess.ts';
import type { TensorData } from './tensor.ts';

/** Pool policy. Defaults: 1024 queued calls, 2 calls per worker, 5 crashes in 60 s, back-off 100 ms → 5 s. */
export interface WorkerPoolOptions {
  readonly size: number;
  /** Starts the worker of slot `slot` (also its replacements). */
  readonly spawn: (slot: number) => PoolWorker;
  /** Calls allowed to wait when every worker is busy; past this, OVERLOADED. */
  readonly maxQueue?: number;
  /** Calls one worker holds at once (2 hides the message round trip behind the running call). */
  readonly concurrency?: number;
  /** Crashes within `crashWindowMs` after which dead workers are no longer replaced. */
  readonly maxCrashes?: number; readonly crashWindowMs?: number;
  /** First replacement delay, doubled per recent crash up to `backoffMaxMs`. */
  readonly backoffMs?: number; readonly backoffMaxMs?: number;
}

/** One slot's numbers; `calls` and `restarts` count across replacements. */
export interface WorkerStats {
  readonly slot: number; readonly state: 'starting' | 'ready' | 'backoff' | 'stopped'; readonly inFlight: number;
  readonly calls: number; readonly restarts: number; readonly lastExit?: string;
}

/** The pool's numbers. `failed`: it gave up replacing workers and none is left; `reason` says why. */
export interface WorkerPoolStats {
  readonly state: 'running' | 'failed' | 'closed';
  readonly size: number; readonly ready: number; readonly queued: number; readonly inFlight: number;
  readonly restarts: number; readonly crashes: number; readonly reason?: string;
  readonly workers: readonly WorkerStats[];
}

export type { PoolWorker } from '../../workers/inference.worker.ts';

type Api = Remote<InferenceWorkerApi>;
type Task = { readonly run: (api: Api) => Promise<unknown>; readonly resolve: (v: unknown) => void; readonly reject: (e: unknown) => void };

const noop = () => {};
const DEATHS = new WeakSet<object>(); // errors made for a worker's death, not answers from a live worker
const key = (name: string, version: string) => `${name}\u0000${version}`;

class Slot {
  state: WorkerStats['state'] = 'stopped';
  worker: PoolWorker | undefined; api: Api | undefined;
  /** Rejects when this generation's worker dies; every call races it, so none hangs. */
  died: Promise<never> = new Promise(noop);
  die: (e: unknown) => void = noop;
  /** Load/unload steps run in order per worker. */
  setup: Promise<unknown> = Promise.resolve();
  timer: ReturnType<typeof setTimeout> | undefined; lastExit: string | undefined;
  gen = 0; calls = 0; restarts = 0;
  readonly inFlight = new Set<Task>();
  constructor(readonly index: number) {}
  get live(): boolean { return this.state === 'starting' || this.state === 'ready'; }
}

/** Runs models in workers. Node: `createNodeWorkerPool({ size })` from `runtimes/native/worker-pool.ts`. */
export class WorkerPool {
  readonly #o: Required<Omit<WorkerPoolOptions, 'size'>>;
  readonly #slots: Slot[];
  readonly #queue: Task[] = [];
  readonly #models = new Map<string, WorkerLoadOptions>();
  readonly #idle: (() => void)[] = [];
  #crashTimes: number[] = [];
  #crashes = 0;
  #failed: string | undefined;
  #closing: Promise<void> | undefined;

  constructor(opts: WorkerPoolOptions) {
    if (typeof opts.spawn !== 'function') throw Errors.INVALID_CONFIG('workers.spawn must be a function', { path: 'workers.spawn' });
    this.#o = {
      spawn: opts.spawn, maxQueue: option('maxQueue', opts.maxQueue, 1024, 0), concurrency: option('concurrency', opts.concurrency, 2, 1),
      maxCrashes: option('maxCrashes', opts.maxCrashes, 5, 1), crashWindowMs: option('crashWindowMs', opts.crashWindowMs, 60_000, 0),
      backoffMs: option('backoffMs', opts.backoffMs, 100, 0), backoffMaxMs: option('backoffMaxMs', opts.backoffMaxMs, 5_000, 0),
    };
    this.#slots = Array.from({ length: option('size', opts.size, 1, 1) }, (_, i) => new Slot(i));
    for (const s of this.#slots) this.#start(s);
  }

  /** Loads a model version into every worker (a worker answering with an error fails the load); resolves with its metadata. */
  async load(opts: WorkerLoadOptions): Promise<ModelMetadata> {
    const no = this.#refusal();
    if (no) throw no;
    const k = key(opts.name, opts.version);
    const prev = this.#models.get(k);
    // A private copy: replacements re-load these bytes long after the caller moved on.
    const entry: WorkerLoadOptions = { ...opts, bytes: opts.bytes.slice() };
    this.#models.set(k, entry);
    const settled = await Promise.allSettled(this.#slots.filter((s) => s.live).map((s) => this.#chain(s, (api) => api.load(entry))));
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected' && !DEATHS.has(r.reason as object));
    const ok = settled.find((r): r is PromiseFulfilledResult<ModelMetadata> => r.status === 'fulfilled');
    if (!failed && ok) return ok.value;
    if (this.#models.get(k) === entry) { // undo, unless a later load replaced it; the workers kept what they had
      if (prev) this.#models.set(k, prev); else this.#models.delete(k);
    }
    if (failed) throw fromWireError(failed.reason);
    throw Errors.INFERENCE_FAILED(`model ${opts.name}: no inference worker stayed up to load it`, { model: opts.name });
  }

  /** Frees a model version in every worker. */
  async unload(name: string, version: string): Promise<void> {
    if (!this.#models.delete(key(name, version))) throw notLoaded(name, version);
    await Promise.allSettled(this.#slots.filter((s) => s.live).map((s) => this.#chain(s, (api) => api.unload(name, version))));
  }

  /** Scores records on the least-busy worker: one result per record, in order. */
  predict(name: string, version: string, records: readonly FeatureRecord[]): Promise<PredictionResult[]> {
    return this.#submit(name, version, (api) => api.predict(name, version, records)) as Promise<PredictionResult[]>;
  }

  /** Runs raw tensors on the least-busy worker. `transfer`: move (detach) the input buffers instead of copying them. */
  infer(name: string, version: string, tensors: Readonly<Record<string, TensorData>>, opts: { transfer?: boolean } = {}): Promise<Record<string, TensorData>> {
    const feeds = opts.transfer ? transferTensors(tensors) : tensors;
    return this.#submit(name, version, (api) => api.infer(name, version, feeds)) as Promise<Record<string, TensorData>>;
  }

  /** A snapshot of queue, in-flight calls and restarts, per worker and in all. */
  stats(): WorkerPoolStats {
    const workers = this.#slots.map((s): WorkerStats => ({
      slot: s.index, state: s.state, inFlight: s.inFlight.size, calls: s.calls, restarts: s.restarts,
      ...(s.lastExit === undefined ? {} : { lastExit: s.lastExit }),
    }));
    const sum = (f: (w: WorkerStats) => number) => workers.reduce((n, w) => n + f(w), 0);
    return {
      state: this.#closing ? 'closed' : this.#down() ? 'failed' : 'running', size: workers.length,
      ready: sum((w) => Number(w.state === 'ready')), queued: this.#queue.length, inFlight: sum((w) => w.inFlight),
      restarts: sum((w) => w.restarts), crashes: this.#crashes, ...(this.#failed === undefined ? {} : { reason: this.#failed }), workers,
    };
  }

  /** Refuses new calls (SHUTTING_DOWN), lets queued and running ones finish (at most `timeoutMs`, default
   * 10 s; the rest fail with SHUTTING_DOWN), then frees the workers' models and terminates them. */
  close(opts: { timeoutMs?: number } = {}): Promise<void> {
    this.#closing ??= this.#shutdown(opts.timeoutMs ?? 10_000);
    return this.#closing;
  }

  async #shutdown(timeoutMs: number): Promise<void> {
    const idle = new Promise<void>((res) => this.#idle.push(res));
    this.#checkIdle();
    await within(idle, timeoutMs);
    const bye = Errors.SHUTTING_DOWN('the worker pool is shutting down');
    for (const t of this.#queue.splice(0)) t.reject(bye);
    await Promise.all(this.#slots.map(async (s) => {
      clearTimeout(s.timer);
      const { worker, api, died } = s;
      s.state = 'stopped';
      if (!worker || !api) return;
      // Loads in progress finish first (bounded): terminating a thread while onnxruntime
      // initialises or creates a session in it aborts the whole process (a Napi::Error
      // thrown through the teardown; seen closing a pool ~0.6 s after a load began).
      await within(s.setup, 30_000);
      // Free native sessions before the thread goes: a terminated isolate may skip finalizers.
      await within(Promise.race([api.close(), died]), 1_000);
      s.worker = s.api = undefined;
      s.die(bye); // what still runs after the grace period
      try { await worker.terminate(); } catch { /* already gone */ }
    }));
  }

  #down(): boolean { return this.#failed !== undefined && !this.#slots.some((s) => s.live); }

  #refusal(): OmniserveError | undefined {
    if (this.#closing) return Errors.SHUTTING_DOWN('the worker pool is shutting down');
    if (this.#down()) return Errors.INFERENCE_FAILED(`the worker pool is down: ${this.#failed}`, { reason: this.#failed });
  }

  #submit(name: string, version: string, run: Task['run']): Promise<unknown> {
    const { maxQueue } = this.#o;
    const queued = this.#queue.length;
    const no = this.#refusal() ?? (this.#models.has(key(name, version)) ? undefined : notLoaded(name, version)) ??
      (queued >= maxQueue && !this.#pick() ? Errors.OVERLOADED(`overloaded: ${queued} calls wait for a worker (limit ${maxQueue}); retry shortly`, { queued, maxQueue }) : undefined);
    if (no) return Promise.reject(no);
    return new Promise((resolve, reject) => {
      this.#queue.push({ run, resolve, reject });
      this.#pump();
    });
  }

  /** The ready worker with the fewest calls in flight (then the fewest so far), if one has room. */
  #pick(): Slot | undefined {
    let best: Slot | undefined;
    for (const s of this.#slots) {
      if (s.state !== 'ready' || s.inFlight.size >= this.#o.concurrency) continue;
      if (!best || s.inFlight.size < best.inFlight.size || (s.inFlight.size === best.inFlight.size && s.calls < best.calls)) best = s;
    }
    return best;
  }

  #pump(): void {
    for (let s = this.#pick(); s && this.#queue.length; s = this.#pick()) {
      const slot = s;
      const t = this.#queue.shift()!;
      slot.inFlight.add(t);
      slot.calls++;
      const done = (settle: () => void) => { slot.inFlight.delete(t); settle(); this.#pump(); };
      Promise.race([t.run(slot.api!), slot.died]).then((v) => done(() => t.resolve(v)), (e) => done(() => t.reject(fromWireError(e))));
    }
    this.#checkIdle();
  }

  /** Runs `op` on the slot's worker after its earlier setup steps, whatever their outcome. */
  #chain<R>(s: Slot, op: (api: Api) => Promise<R>): Promise<R> {
    const { api, died } = s;
    const p = s.setup.then(() => Promise.race([op(api!), died]));
    s.setup = p.catch(noop);
    return p;
  }

  #start(s: Slot): void {
    const gen = ++s.gen;
    s.state = 'starting';
    (s.died = new Promise<never>((_, rej) => (s.die = rej))).catch(noop);
    s.setup = Promise.resolve();
    let worker: PoolWorker;
    try {
      worker = this.#o.spawn(s.index);
    } catch (e) {
      return this.#exited(s, gen, `could not start a worker: ${messageOf(e)}`);
    }
    s.worker = worker;
    s.api = Comlink.wrap<InferenceWorkerApi>(worker.endpoint);
    worker.onExit((reason) => this.#exited(s, gen, reason));
    // The model list is read now; later loads chain after these, so none is missed or doubled.
    const steps: Promise<unknown>[] = [this.#chain(s, (api) => api.ping())];
    for (const m of this.#models.values()) steps.push(this.#chain(s, (api) => api.load(m)));
    Promise.all(steps).then(() => {
      if (s.gen !== gen || s.state !== 'starting') return;
      s.state = 'ready';
      this.#pump();
    }, (e) => {
      if (s.gen !== gen || !s.live) return;
      this.#exited(s, gen, `the worker failed to start: ${fromWireError(e).message}`);
      try { void Promise.resolve(worker.terminate()).catch(noop); } catch { /* already gone */ }
    });
  }

  #exited(s: Slot, gen: number, reason: string): void {
    if (s.gen !== gen || !s.live) return; // an old generation, or a worker the pool let go
    const err = Errors.INFERENCE_FAILED(`inference worker ${s.index} died: ${reason}`, { worker: s.index, reason });
    DEATHS.add(err);
    s.die(err);
    s.worker = s.api = undefined;
    s.inFlight.clear();
    [s.lastExit, s.state] = [reason, 'stopped'];
    if (this.#closing) return;
    const now = Date.now();
    this.#crashes++;
    this.#crashTimes = [...this.#crashTimes.filter((t) => now - t < this.#o.crashWindowMs), now];
    const recent = this.#crashTimes.length;
    if (recent >= this.#o.maxCrashes || this.#failed) {
      this.#failed ??= `${recent} worker crashes within ${this.#o.crashWindowMs / 1000} s (last: ${reason}); dead workers are no longer replaced`;
      for (const x of this.#slots) if (x.state === 'backoff') { clearTimeout(x.timer); x.state = 'stopped'; }
      if (this.#down()) {
        const down = Errors.INFERENCE_FAILED(`the worker pool is down: ${this.#failed}`, { reason: this.#failed });
        for (const t of this.#queue.splice(0)) t.reject(down);
      }
    } else {
      s.state = 'backoff';
      const delay = Math.min(this.#o.backoffMaxMs, this.#o.backoffMs * 2 ** (recent - 1));
      s.timer = setTimeout(() => { s.restarts++; this.#start(s); }, delay);
    }
    this.#pump();
  }

  #checkIdle(): void {
    if (this.#queue.length || this.#slots.some((s) => s.inFlight.size) || !this.#idle.length) return;
    for (const res of this.#idle.splice(0)) res();
  }
}

const notLoaded = (name: string, version: string) =>
  Errors.MODEL_NOT_FOUND(`model "${name}" version "${version}" is not loaded in the worker pool`, { model: name, version });

/** Waits for `p` (never rejects), at most `ms`. */
async function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([p.catch(noop), new Promise((res) => (timer = setTimeout(res, ms)))]);
  clearTimeout(timer);
}

function option(name: string, v: number | undefined, dflt: number, min: number): number {
  if (v === undefined || (Number.isInteger(v) && v >= min)) return v ?? dflt;
  throw Errors.INVALID_CONFIG(`workers.${name} must be an integer ≥ ${min}; got ${String(v)}`, { path: `workers.${name}` });
}
