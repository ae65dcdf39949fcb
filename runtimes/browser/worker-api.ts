/**
 * What the browser's inference worker answers over comlink: load a model (fetched through
 * the checked Cache API copy, see `model-cache.ts`) on the best onnxruntime-web backend the
 * page offers, and score records with the same core (`src/`: config, features,
 * post-processing) the server uses, so the answers are the server's. Web-API-only; the
 * worker entry (`inference.worker.ts`) only exposes it.
 * @module
 */
import { createEngine, type Engine } from '../../src/engine.ts';
import { detectHost } from '../../src/backends/host.ts';
import type { OrtModule } from '../../src/backends/onnxruntime.ts';
import type { BackendRequest } from '../../src/backends/registry.ts';
import type { BackendStatus } from '../../src/backends/types.ts';
import { createWebBackends } from '../../src/backends/web.ts';
import type { FeatureRecord } from '../../src/core/features.ts';
import type { Model, ModelMetadata } from '../../src/core/model.ts';
import type { PredictionResult } from '../../src/core/postprocess.ts';
import { Errors } from '../../src/errors.ts';
import { toWireError } from '../../workers/inference.worker.ts';
import { loadModelFile, sha256Hex } from './model-cache.ts';
import type { BackendChoice, LocalBackend, ModelFileInfo, PredictionView } from './types.ts';

/** Where the worker gets the model. */
export type WorkerModelSource =
  | { readonly url: string; readonly sha256?: string; readonly size?: number }
  | { readonly bytes: Uint8Array };

/** What `load` takes. */
export interface WorkerLoadRequest {
  readonly model: WorkerModelSource;
  readonly name?: string;
  readonly version?: string;
  readonly config?: unknown;
  readonly backend: Exclude<BackendChoice, 'server'>;
  /** URL prefix (ending in `/`) serving onnxruntime-web's `.mjs`/`.wasm` assets. */
  readonly wasmPaths: string;
  readonly limitBytes: number;
  readonly cacheName?: string | false;
  /** WASM threads; default: up to 4 when the page is cross-origin isolated, else 1. */
  readonly threads?: number;
  /** Keep every raw output in each prediction. */
  readonly outputs?: boolean;
}

/** What `load` resolves with. */
export interface WorkerLoadResult {
  readonly name: string;
  readonly version: string;
  readonly backend: Exclude<LocalBackend, 'server'>;
  readonly reason: string;
  readonly threads: number;
  readonly crossOriginIsolated: boolean;
  readonly adapter?: string;
  readonly backends: readonly BackendStatus[];
  readonly file: ModelFileInfo;
  readonly metadata: ModelMetadata;
}

/** What `predict` resolves with: the predictions and the backend that made them. */
export interface WorkerPredictResult {
  readonly predictions: PredictionView[];
  readonly backend: Exclude<LocalBackend, 'server'>;
  /**
   * Set on the first answer after the model left WebGPU because the device refused a run
   * (under `auto`): the new `info().reason` and WASM threads.
   */
  readonly moved?: { readonly reason: string; readonly threads: number };
}

/** The worker's API. Every method rejects with a `WireError` (code, status, message). */
export interface BrowserWorkerApi {
  load(req: WorkerLoadRequest): Promise<WorkerLoadResult>;
  predict(records: readonly FeatureRecord[]): Promise<WorkerPredictResult>;
  close(): Promise<void>;
}

// (module (func (result v128) v128.const i32x4 0 0 0 0)): valid only where WASM SIMD is.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11]);

/** Throws the reason when this page cannot run onnxruntime-web's WASM (it ships SIMD builds only). */
export function requireWasmSimd(g: { WebAssembly?: typeof WebAssembly } = globalThis): void {
  const wasm = g.WebAssembly;
  if (typeof wasm !== 'object' || typeof wasm.validate !== 'function') throw new Error('WebAssembly is not available in this browser');
  if (!wasm.validate(SIMD_PROBE)) throw new Error('this browser has no WebAssembly SIMD (onnxruntime-web needs it)');
}

const REQUESTS: Record<WorkerLoadRequest['backend'], BackendRequest> = { auto: 'auto', webgpu: 'web-webgpu', wasm: 'web-wasm' };

function nameFromUrl(url: string): string | undefined {
  const file = url.split(/[?#]/)[0]!.split('/').pop() ?? '';
  return file.replace(/\.onnx$/i, '') || undefined;
}

function view(r: PredictionResult, outputs: boolean): PredictionView {
  return {
    prediction: r.prediction ?? null,
    probability: r.probability ?? null,
    ...(r.label !== undefined ? { label: r.label } : {}),
    ...(r.probabilities ? { probabilities: r.probabilities } : {}),
    ...(outputs ? { outputs: r.outputs } : {}),
  };
}

function explain(req: WorkerLoadRequest, chosen: Exclude<LocalBackend, 'server'>, statuses: readonly BackendStatus[], threads: number, coi: boolean, gpuSkipped?: string): string {
  const gpu = statuses.find((s) => s.id === 'web-webgpu');
  const wasmThreads = `${threads} thread${threads === 1 ? '' : 's'} (${coi ? 'page is cross-origin isolated' : 'page is not cross-origin isolated'})`;
  if (chosen === 'web-webgpu') {
    const adapter = String(gpu?.info?.['adapter'] ?? 'unknown adapter');
    return `${req.backend === 'webgpu' ? 'WebGPU as requested' : 'WebGPU'}: navigator.gpu offered an adapter (${adapter})`;
  }
  if (req.backend === 'wasm') return `WASM-SIMD as requested, ${wasmThreads}`;
  return `WASM-SIMD, ${wasmThreads}; WebGPU not used: ${gpuSkipped ?? gpu?.reason ?? 'not probed'}`;
}

/**
 * Where `model` runs, as the client reports it: the backend, the reason (why it and not the
 * better ones; for WebGPU skipped, the model's own reason when it gave one) and WASM threads.
 */
function whereItRuns(model: Model, req: WorkerLoadRequest, statuses: readonly BackendStatus[], threads: number, coi: boolean):
{ backend: Exclude<LocalBackend, 'server'>; reason: string; threads: number } {
  const backend = model.backend.id as Exclude<LocalBackend, 'server'>;
  const skipped = model.metadata.skippedBackends?.findLast((k) => k.backend === 'web-webgpu')?.reason;
  return { backend, reason: explain(req, backend, statuses, threads, coi, skipped), threads: backend === 'web-wasm' ? threads : 1 };
}

/** Builds the worker's API. `global` is where `navigator`/`crossOriginIsolated` are read (tests pass their own). */
export function createBrowserWorkerApi(opts: {
  readonly global?: typeof globalThis;
  /** onnxruntime-web loaders (default: the bundled WASM and WebGPU builds). */
  readonly loadWasm?: () => Promise<OrtModule>;
  readonly loadWebGpu?: () => Promise<OrtModule>;
} = {}): BrowserWorkerApi {
  const g = opts.global ?? globalThis;
  let engine: Engine | undefined;
  let current: {
    name: string; version: string; outputs: boolean; backend: Exclude<LocalBackend, 'server'>;
    /** What `explain` needs again should the model move. */
    req: WorkerLoadRequest; threads: number; coi: boolean;
  } | undefined;

  const guard = <A extends unknown[], R>(fn: (...a: A) => Promise<R>) => async (...a: A): Promise<R> => {
    try {
      return await fn(...a);
    } catch (e) {
      throw toWireError(e);
    }
  };

  return {
    load: guard(async (req: WorkerLoadRequest) => {
      if (engine) throw Errors.INVALID_REQUEST('this worker already holds a model: start another worker for another model');
      const coi = (g as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
      const cores = (g.navigator as Navigator | undefined)?.hardwareConcurrency ?? 1;
      const threads = req.threads ?? (coi ? Math.max(1, Math.min(4, cores)) : 1);
      const withSimd = (load: () => Promise<OrtModule>) => async () => {
        requireWasmSimd(g);
        return load();
      };
      const backends = createWebBackends({
        global: g,
        threads,
        wasm: { wasmPaths: req.wasmPaths },
        // The builds whose files wasm/assets.ts lists: `onnxruntime-web/wasm` (plain WASM-SIMD,
        // ort-wasm-simd-threaded.{mjs,wasm}) and `onnxruntime-web` (JSEP: WebGPU kernels,
        // ort-wasm-simd-threaded.jsep.{mjs,wasm}), each fetched from `wasmPaths`.
        loadWasm: withSimd(opts.loadWasm ?? (() => import('onnxruntime-web/wasm') as unknown as Promise<OrtModule>)),
        loadWebGpu: withSimd(opts.loadWebGpu ?? (() => import('onnxruntime-web') as unknown as Promise<OrtModule>)),
      });
      engine = createEngine({ host: detectHost(g), backends, fetch: g.fetch?.bind(g) }, { backend: REQUESTS[req.backend] });
      // Pick the backend first: a page that cannot run any does not download the model.
      await engine.backends.resolve(REQUESTS[req.backend]);
      const source = req.model;
      const { bytes, info: file } = 'bytes' in source
        ? { bytes: source.bytes, info: await bytesInfo(source.bytes, req.limitBytes) }
        : await loadModelFile({ url: source.url, sha256: source.sha256, size: source.size, limitBytes: req.limitBytes, cacheName: req.cacheName, fetch: g.fetch?.bind(g) });
      const cfg = (req.config ?? {}) as { name?: unknown };
      const name = req.name ?? (typeof cfg.name === 'string' ? cfg.name : undefined) ?? ('url' in source ? nameFromUrl(source.url) : undefined) ?? 'model';
      // The request, not the backend it resolved to: under `auto` a model WebGPU cannot run
      // (an operator missing, float16 on a device without shader-f16) goes on to WASM.
      const model = await engine.models.load({ source: bytes, name, version: req.version, config: req.config, backend: REQUESTS[req.backend] });
      const statuses = engine.backends.status();
      const runs = whereItRuns(model, req, statuses, threads, coi);
      current = { name: model.name, version: model.version, outputs: req.outputs === true, backend: runs.backend, req, threads, coi };
      const adapter = statuses.find((s) => s.id === 'web-webgpu' && s.state === 'available')?.info?.['adapter'];
      return {
        name: model.name, version: model.version, ...runs, crossOriginIsolated: coi,
        ...(typeof adapter === 'string' ? { adapter } : {}),
        backends: statuses, file, metadata: model.metadata,
      };
    }),
    predict: guard(async (records: readonly FeatureRecord[]) => {
      if (!engine || !current) throw Errors.MODEL_NOT_FOUND('no model is loaded in this worker');
      const model = engine.models.get(current.name, current.version);
      const results = await model.predict(records);
      const predictions = results.map((r) => view(r, current!.outputs));
      if (model.backend.id === current.backend) return { predictions, backend: current.backend };
      // The WebGPU device refused a run and the model moved on (Model's `next`): say so once.
      const { backend, reason, threads } = whereItRuns(model, current.req, engine.backends.status(), current.threads, current.coi);
      current.backend = backend;
      return { predictions, backend, moved: { reason, threads } };
    }),
    close: guard(async () => {
      await engine?.close();
      engine = undefined;
      current = undefined;
    }),
  };
}

async function bytesInfo(bytes: Uint8Array, limitBytes: number): Promise<ModelFileInfo> {
  if (bytes.byteLength > limitBytes) {
    throw Errors.MODEL_TOO_LARGE(`the model is ${bytes.byteLength} bytes; this target takes at most ${limitBytes}`, { sizeBytes: bytes.byteLength, limitBytes });
  }
  return { sizeBytes: bytes.byteLength, sha256: await sha256Hex(bytes), source: 'bytes', limitBytes };
}
