/**
 * The browser client's public shapes: what `createLocalModel` takes, what `info()` reports,
 * and the prediction response (the same JSON `POST /v1/models/{name}/predict` answers for
 * `{instances}`, plus which backend produced it). Web-API-only.
 * @module
 */
import type { BackendId, BackendStatus } from '../../src/backends/types.ts';

/** Where a model runs: a local onnxruntime-web backend, or an omniserve server. */
export type LocalBackend = Extract<BackendId, 'web-webgpu' | 'web-wasm'> | 'server';

/** What the caller asks for. `auto`: WebGPU if an adapter is offered, else WASM-SIMD, else the server. */
export type BackendChoice = 'auto' | 'webgpu' | 'wasm' | 'server';

/** One row's answer, as the server's `{instances}` route gives it. */
export interface PredictionView {
  prediction: number | null;
  probability: number | null;
  label?: string;
  probabilities?: number[];
  /** Every raw output by name: local backends only, when `outputs: true` was asked for. */
  outputs?: Record<string, number | number[] | string | string[]>;
}

/** `predict()`'s answer: the server's `{instances}` response plus the backend that made it. */
export interface PredictResponse {
  predictions: PredictionView[];
  model: string;
  model_version: string;
  latency_ms: number;
  backend: LocalBackend;
  /** Which of the model's workers answered (0-based), with `workers` above 1. */
  worker?: number;
}

/** Where the model bytes came from and what was checked. */
export interface ModelFileInfo {
  readonly url?: string;
  readonly sizeBytes: number;
  /** Hex SHA-256 of the bytes in use. */
  readonly sha256: string;
  /** `cache`: served from the Cache API (checked); `network`: downloaded (and cached); `bytes`: passed in. */
  readonly source: 'cache' | 'network' | 'bytes';
  /** The largest model this target accepts (bytes). */
  readonly limitBytes: number;
}

/** What `info()` reports: the backend in use and why. */
export interface LocalModelInfo {
  readonly backend: LocalBackend;
  readonly requested: BackendChoice;
  /** One sentence: why this backend (and why not the better ones). */
  readonly reason: string;
  readonly model: string;
  readonly version: string;
  /** WASM threads in use (1 unless the page is cross-origin isolated). */
  readonly threads: number;
  readonly crossOriginIsolated: boolean;
  /** The WebGPU adapter, when one was offered. */
  readonly adapter?: string;
  /** Each local backend's probe result (empty when only the server was used). */
  readonly backends: readonly BackendStatus[];
  /** The model file (absent when only the server was used). */
  readonly file?: ModelFileInfo;
  /** Set when local inference failed and requests go to the server: the error code and message. */
  readonly fallback?: { readonly code: string; readonly message: string };
  /** Milliseconds from `createLocalModel` to ready. */
  readonly loadMs: number;
  /** Web Workers running the model (0 when only the server is used). */
  readonly workers: number;
}
