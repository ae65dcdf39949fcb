/**
 * `createLocalModel`: an ONNX model run in the page's own browser, in a dedicated module Web
 * Worker (comlink) so the page never janks, with the same config, pre- and post-processing
 * and answers as an omniserve server, and the server as the fallback.
 *
 * Backend choice (`backend: 'auto'`): WebGPU when `navigator.gpu` offers an adapter, else
 * WASM-SIMD (threads when the page is cross-origin isolated), else, when `serverUrl` is
 * given, the server: `info()` says which and why. `backend: 'server'` always uses the server.
 * Web-API-only: the page's globals are only read here, never at import.
 * @module
 */
import * as Comlink from 'comlink';
import type { FeatureRecord } from '../../src/core/features.ts';
import { Errors, isOmniserveError, messageOf, type OmniserveError } from '../../src/errors.ts';
import { fromWireError } from '../../workers/inference.worker.ts';
import { createServerPredictor, type ServerPredictor } from './server-client.ts';
import type { BackendChoice, LocalBackend, LocalModelInfo, PredictResponse } from './types.ts';
import type { BrowserWorkerApi, WorkerLoadResult, WorkerModelSource } from './worker-api.ts';

/** What {@link createLocalModel} takes. */
export interface LocalModelOptions {
  /** The `.onnx` file: a URL (fetched, cached with the Cache API, checked) or its bytes. */
  readonly model: string | URL | Uint8Array | ArrayBuffer;
  /** The model config (the server's `<model>.config.json`): an object, or a URL to fetch it from. */
  readonly config?: unknown;
  /** Model name (the server's name for it). Default: config `name`, else the file name. */
  readonly name?: string;
  readonly version?: string;
  /** Default `auto`. */
  readonly backend?: BackendChoice;
  /** An omniserve server: `backend: 'server'` uses it, `auto`/`webgpu`/`wasm` fall back to it. */
  readonly serverUrl?: string;
  /** Extra headers for server requests (e.g. `Authorization`). */
  readonly serverHeaders?: Readonly<Record<string, string>>;
  /** Where onnxruntime-web's `.mjs`/`.wasm` are served. Default `ort/` beside this module. */
  readonly wasmPaths?: string | URL;
  /** The worker script. Default `inference.worker.js` beside this module. */
  readonly workerUrl?: string | URL;
  /** Expected hex SHA-256 of the model file (else the response's `Repr-Digest` is used when sent). */
  readonly sha256?: string;
  /** Expected size of the model file in bytes. */
  readonly size?: number;
  /** The largest model this page accepts. Default: a quarter of `navigator.deviceMemory`, at most 2 GiB (1 GiB when unknown). */
  readonly maxModelBytes?: number;
  /** Cache API cache name, or `false` for no offline copy. Default `omniserve-models`. */
  readonly cache?: string | false;
  /** WASM threads (default: up to 4 when cross-origin isolated, else 1). */
  readonly threads?: number;
  /** Include every raw output in each local prediction (the server does not send them). */
  readonly outputs?: boolean;
  /** Give up on local loading after this long (default 120 s) and fall back or fail. */
  readonly loadTimeoutMs?: number;
  /**
   * Web Workers running the model (default 1), each with its own copy of it: concurrent
   * `predict()` calls go to the least busy one. More than one helps where each runs WASM on
   * one thread (a page that is not cross-origin isolated) on a device with cores to spare;
   * the first loads (and caches) the model, the others then load it from the cache.
   */
  readonly workers?: number;
}

/** A model ready to score records. */
export interface LocalModel {
  /** Scores records (the server's `{instances}` shapes), one prediction per record, in order. */
  predict(records: readonly FeatureRecord[]): Promise<PredictResponse>;
  /** The backend in use and why. */
  info(): LocalModelInfo;
  /** Stops the worker. */
  close(): Promise<void>;
}

const GiB = 1 << 30;

/** The default model size limit for this page. */
export function defaultModelLimit(nav: { deviceMemory?: number } | undefined = globalThis.navigator as never): number {
  const mem = nav?.deviceMemory;
  return typeof mem === 'number' && mem > 0 ? Math.min(2 * GiB, Math.floor((mem * GiB) / 4)) : GiB;
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;

async function resolveConfig(config: unknown): Promise<unknown> {
  if (typeof config !== 'string' && !(config instanceof URL)) return config;
  const url = String(config);
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw Errors.INVALID_CONFIG(`model config ${url} could not be fetched: ${messageOf(e)}`);
  }
  if (!res.ok) throw Errors.INVALID_CONFIG(`model config ${url} could not be fetched: HTTP ${res.status}`);
  try {
    return await res.json();
  } catch (e) {
    throw Errors.INVALID_CONFIG(`model config ${url} is not JSON: ${messageOf(e)}`);
  }
}

function modelName(o: LocalModelOptions, config: unknown): string {
  const c = config as { name?: unknown } | undefined;
  if (o.name) return o.name;
  if (typeof c?.name === 'string') return c.name;
  if (typeof o.model === 'string' || o.model instanceof URL) {
    const file = String(o.model).split(/[?#]/)[0]!.split('/').pop() ?? '';
    if (file.replace(/\.onnx$/i, '')) return file.replace(/\.onnx$/i, '');
  }
  return 'model';
}

/** Rejects when the worker dies (script failed to load, uncaught error) or after `ms`. */
function watchWorker(worker: Worker, ms: number): { failed: Promise<never>; stop(): void } {
  let stop = () => {};
  const failed = new Promise<never>((_, reject) => {
    const onError = (ev: ErrorEvent) => {
      ev.preventDefault();
      reject(Errors.BACKEND_UNAVAILABLE(`the inference worker failed: ${ev.message || 'its script did not load'}`));
    };
    const timer = setTimeout(() => reject(Errors.BACKEND_UNAVAILABLE(`the model did not load within ${ms} ms`)), ms);
    worker.addEventListener('error', onError);
    stop = () => {
      clearTimeout(timer);
      worker.removeEventListener('error', onError);
    };
  });
  failed.catch(() => {});
  return { failed, stop: () => stop() };
}

/** Loads a model for in-page inference (or the server, see the module doc). */
export async function createLocalModel(o: LocalModelOptions): Promise<LocalModel> {
  const t0 = performance.now();
  const requested = o.backend ?? 'auto';
  if (!['auto', 'webgpu', 'wasm', 'server'].includes(requested)) {
    throw Errors.UNKNOWN_BACKEND(`unknown backend "${requested}"; valid: auto, webgpu, wasm, server`);
  }
  const config = await resolveConfig(o.config);
  const name = modelName(o, config);
  const coi = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  const server: ServerPredictor | undefined = o.serverUrl
    ? createServerPredictor({ serverUrl: o.serverUrl, model: name, version: o.version, headers: o.serverHeaders })
    : undefined;

  let info: LocalModelInfo;
  /** The model's workers and the calls each has in flight. */
  let pool: { worker: Worker; api: Comlink.Remote<BrowserWorkerApi>; busy: number }[] = [];
  const count = o.workers ?? 1;
  if (!Number.isInteger(count) || count < 1) throw Errors.INVALID_REQUEST(`workers must be a whole number of at least 1, not ${String(o.workers)}`);

  const useServer = (reason: string, fallback?: OmniserveError): void => {
    info = {
      backend: 'server', requested, reason, model: name, version: o.version ?? info?.version ?? '',
      threads: 0, crossOriginIsolated: coi, backends: info?.backends ?? [], loadMs: round(performance.now() - t0), workers: 0,
      ...(info?.file ? { file: info.file } : {}),
      ...(fallback ? { fallback: { code: fallback.code, message: fallback.message } } : {}),
    };
  };
  const stopWorkers = () => {
    for (const w of pool) {
      w.api[Comlink.releaseProxy]();
      w.worker.terminate();
    }
    pool = [];
  };
  /** Starts one worker and loads the model in it; the worker is in `pool` (to be stopped) from the start. */
  const startWorker = async (source: WorkerModelSource, backend: Exclude<BackendChoice, 'server'>, index: number): Promise<WorkerLoadResult> => {
    const worker = new Worker(o.workerUrl ?? new URL('./inference.worker.js', import.meta.url), { type: 'module', name: `omniserve-inference${index ? `-${index}` : ''}` });
    const api = Comlink.wrap<BrowserWorkerApi>(worker);
    pool.push({ worker, api, busy: 0 });
    const watch = watchWorker(worker, o.loadTimeoutMs ?? 120_000);
    try {
      return await Promise.race([watch.failed, api.load({
        model: source, name, config, backend,
        ...(o.version !== undefined ? { version: o.version } : {}),
        wasmPaths: new URL(String(o.wasmPaths ?? new URL('./ort/', import.meta.url)), globalThis.location?.href).href,
        limitBytes: o.maxModelBytes ?? defaultModelLimit(),
        ...(o.cache !== undefined ? { cacheName: o.cache } : {}),
        ...(o.threads !== undefined ? { threads: o.threads } : {}),
        ...(o.outputs ? { outputs: true } : {}),
      })]);
    } finally {
      watch.stop();
    }
  };

  if (requested === 'server') {
    if (!server) throw Errors.INVALID_REQUEST('backend "server" needs serverUrl');
    useServer(`backend: 'server' requested: records go to ${o.serverUrl}`);
  } else {
    try {
      const source: WorkerModelSource = typeof o.model === 'string' || o.model instanceof URL
        ? { url: new URL(String(o.model), globalThis.location?.href).href, ...(o.sha256 ? { sha256: o.sha256 } : {}), ...(o.size !== undefined ? { size: o.size } : {}) }
        : { bytes: o.model instanceof Uint8Array ? o.model : new Uint8Array(o.model) };
      const loaded = await startWorker(source, requested, 0);
      // The others after the first: a URL model is in the cache by then (one download).
      await Promise.all(Array.from({ length: count - 1 }, (_, i) => startWorker(source, requested, i + 1)));
      info = {
        backend: loaded.backend, requested, reason: loaded.reason, model: loaded.name, version: loaded.version,
        threads: loaded.threads, crossOriginIsolated: loaded.crossOriginIsolated,
        ...(loaded.adapter ? { adapter: loaded.adapter } : {}),
        backends: loaded.backends, file: loaded.file, loadMs: round(performance.now() - t0), workers: pool.length,
      };
    } catch (e) {
      stopWorkers();
      const err = isOmniserveError(e) ? e : fromWireError(e);
      if (!server) throw err;
      useServer(`local inference failed (${err.code}: ${err.message}); records go to ${o.serverUrl}`, err);
    }
  }

  return {
    async predict(records) {
      if (info.backend !== 'server' && pool.length > 0) {
        const t = performance.now();
        // The least busy worker (the first among equals).
        let index = 0;
        for (let k = 1; k < pool.length; k++) if (pool[k]!.busy < pool[index]!.busy) index = k;
        const w = pool[index]!;
        w.busy++;
        try {
          const { predictions, backend, moved } = await w.api.predict(records);
          if (moved) info = { ...info, backend, reason: moved.reason, threads: moved.threads };
          return {
            predictions, model: info.model, model_version: info.version, latency_ms: round(performance.now() - t), backend,
            ...(pool.length > 1 ? { worker: index } : {}),
          };
        } catch (e) {
          const err = fromWireError(e);
          // The request's fault (4xx) is the caller's to fix; a broken local backend is not.
          if (err.status < 500 || !server) throw err;
          stopWorkers();
          useServer(`local inference failed (${err.code}: ${err.message}); records go to ${o.serverUrl}`, err);
        } finally {
          w.busy--;
        }
      }
      if (!server) throw Errors.BACKEND_UNAVAILABLE('this model was closed');
      const res = await server(records);
      if (!info.version) info = { ...info, version: res.model_version };
      return res;
    },
    info: () => info,
    async close() {
      await Promise.all(pool.map(async (w) => {
        try {
          await w.api.close();
        } catch {
          // A worker that already failed has nothing to free.
        }
      }));
      stopWorkers();
    },
  };
}

export type { LocalBackend };
