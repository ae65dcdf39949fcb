/**
 * The inference worker, host-neutral: its API (a model registry of its own over the runtime
 * the host entry built, answering `load`/`predict`/`infer`/`unload` over comlink), the wire
 * format of its errors, and the handle a host gives `WorkerPool` for a running worker
 * ({@link PoolWorker}; {@link fromWebWorker} for Web Workers). Host entries
 * (`runtimes/native/inference-worker.node.ts`, `runtimes/deno/inference-worker.ts`) build the
 * runtime and `Comlink.expose` the API on their port; nothing here runs on import.
 *
 * Errors cross the port as plain data ({@link WireError}): structured clone keeps only an
 * Error's message, and the caller needs the stable code (a 4xx is the request's fault and
 * the batcher re-runs merged requests one by one; a 5xx is not).
 * @module
 */
import * as Comlink from 'comlink';
import { createEngine, type RuntimeAdapter } from '../src/engine.ts';
import { Errors, isOmniserveError, messageOf, type ErrorCode, type OmniserveError } from '../src/errors.ts';
import type { BackendRequest } from '../src/backends/registry.ts';
import type { SessionOptions } from '../src/backends/types.ts';
import type { FeatureRecord } from '../src/core/features.ts';
import type { ModelMetadata } from '../src/core/model.ts';
import type { PredictionResult } from '../src/core/postprocess.ts';
import type { TensorData } from '../src/core/tensor.ts';

/** What `load` takes: the model's bytes (each worker gets its own copy) and how to load them. */
export interface WorkerLoadOptions {
  readonly bytes: Uint8Array;
  readonly name: string;
  readonly version: string;
  readonly config?: unknown;
  readonly backend?: BackendRequest;
  readonly session?: SessionOptions;
}

/** An OmniserveError as plain, cloneable data: what a worker call rejects with. */
export interface WireError {
  readonly code: ErrorCode;
  readonly status: number;
  readonly message: string;
  readonly details?: Record<string, unknown>;
}

/** What one inference worker answers. Every method rejects with a {@link WireError}. */
export interface InferenceWorkerApi {
  /** Loads (or reloads) a model version; resolves with its metadata. */
  load(opts: WorkerLoadOptions): Promise<ModelMetadata>;
  /** Scores records, one result per record, in order. */
  predict(name: string, version: string, records: readonly FeatureRecord[]): Promise<PredictionResult[]>;
  /** Runs raw tensors. Output buffers are transferred, not copied. */
  infer(name: string, version: string, tensors: Readonly<Record<string, TensorData>>): Promise<Record<string, TensorData>>;
  /** Frees one model version. */
  unload(name: string, version: string): Promise<void>;
  /** Answers once the worker is up; the number of model versions it holds. */
  ping(): Promise<number>;
  /** Frees every model (before the host terminates the worker). */
  close(): Promise<void>;
}

/** One running worker as a host hands it to `WorkerPool` (see `spawn`). */
export interface PoolWorker {
  /** The port comlink talks over. */
  readonly endpoint: Comlink.Endpoint;
  /** Stops the worker now. */
  terminate(): unknown;
  /** Registers the pool's listener: called once when the worker dies (crash, exit, terminate). */
  onExit(listener: (reason: string) => void): void;
}

/** Builds the API over a runtime; the host entry exposes it on its port. */
export function createInferenceWorkerApi(runtime: RuntimeAdapter, opts: { backend?: BackendRequest } = {}): InferenceWorkerApi {
  const engine = createEngine(runtime, opts);
  const { models } = engine;
  return {
    load: guard(async (o: WorkerLoadOptions) => {
      const m = await models.load({ source: o.bytes, name: o.name, version: o.version, config: o.config, backend: o.backend, session: o.session });
      return m.metadata;
    }),
    predict: guard((name: string, version: string, records: readonly FeatureRecord[]) => models.get(name, version).predict(records)),
    infer: guard(async (name: string, version: string, tensors: Readonly<Record<string, TensorData>>) =>
      transferTensors(await models.get(name, version).infer(tensors))),
    unload: guard((name: string, version: string) => models.unload(name, version)),
    ping: guard(async () => models.list().reduce((n, m) => n + m.versions.length, 0)),
    close: guard(() => engine.close()),
  };
}

/**
 * Marks tensors so comlink moves their buffers instead of copying them. A typed array that
 * is a view into a bigger or shared buffer is copied first: moving its buffer would detach
 * memory the sender still uses for other things.
 */
export function transferTensors<T extends Readonly<Record<string, TensorData>>>(tensors: T): T {
  const buffers = new Set<ArrayBuffer>();
  const out: Record<string, TensorData> = {};
  for (const [k, t] of Object.entries(tensors)) {
    let data = t.data;
    if (!Array.isArray(data)) {
      // (A string tensor's array is cloned: only typed arrays have a buffer to move.)
      const buf = data.buffer;
      if (!(buf instanceof ArrayBuffer) || data.byteOffset !== 0 || data.byteLength !== buf.byteLength || buffers.has(buf)) data = data.slice();
      buffers.add(data.buffer as ArrayBuffer);
    }
    out[k] = { dtype: t.dtype, data, dims: [...t.dims] };
  }
  return Comlink.transfer(out as T, [...buffers]);
}

/** Any thrown value as a {@link WireError}; unknown failures become INFERENCE_FAILED. */
export function toWireError(e: unknown): WireError {
  if (!isOmniserveError(e)) return { code: 'INFERENCE_FAILED', status: 500, message: `the inference worker failed: ${messageOf(e)}` };
  let details: Record<string, unknown> | undefined;
  try {
    // Details are plain data by convention; anything that cannot cross the port is dropped, not fatal.
    details = e.details === undefined ? undefined : structuredClone(e.details);
  } catch {
    details = undefined;
  }
  return details === undefined
    ? { code: e.code, status: e.status, message: e.message }
    : { code: e.code, status: e.status, message: e.message, details };
}

/** A worker's answer as an OmniserveError: codes survive the port; anything else is INFERENCE_FAILED. */
export function fromWireError(e: unknown): OmniserveError {
  if (isOmniserveError(e)) return e;
  const w = e as Partial<WireError> | null;
  if (w && typeof w === 'object' && typeof w.message === 'string' && typeof w.code === 'string' && Object.hasOwn(Errors, w.code)) {
    return Errors[w.code](w.message, w.details);
  }
  return Errors.INFERENCE_FAILED(`the inference worker call failed: ${messageOf(e)}`, undefined, e);
}

function guard<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    try {
      return await fn(...args);
    } catch (e) {
      // A plain object, not an Error: comlink passes non-Errors through structured clone intact.
      throw toWireError(e);
    }
  };
}

/** Adapts a Web Worker (browsers, Deno, Bun). Web Workers report no exit, only uncaught errors and `terminate`. */
export function fromWebWorker(worker: Worker): PoolWorker {
  let listener: ((reason: string) => void) | undefined;
  let gone = false;
  const exit = (reason: string) => {
    if (!gone) listener?.(reason);
    gone = true;
  };
  worker.addEventListener('error', (ev) => {
    ev.preventDefault(); // unhandled, a worker's error is rethrown in the parent (Deno exits)
    worker.terminate();
    exit(`uncaught error in the worker: ${ev.message}`);
  });
  return { endpoint: worker, terminate: () => { worker.terminate(); exit('terminated'); }, onExit: (l) => { listener = l; } };
}
