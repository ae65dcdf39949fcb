/**
 * The backend extension point: one interface that onnxruntime-node and onnxruntime-web
 * (and anything else that runs ONNX) implement. Hosts pass a list of backends, in priority
 * order, to the registry; nothing registers itself on import.
 * @module
 */
import type { TensorData, TensorSpec } from '../core/tensor.ts';

/** Canonical backend ids: package family + execution provider. */
export type BackendId = 'native-cuda' | 'native-webgpu' | 'native-cpu' | 'web-webgpu' | 'web-wasm';

/** Every backend id, in the default priority order. */
export const BACKEND_IDS: readonly BackendId[] = Object.freeze([
  'native-cuda', 'native-webgpu', 'native-cpu', 'web-webgpu', 'web-wasm',
]);

/** Options for one session. */
export interface SessionOptions {
  /** Intra-op threads (native) or WASM threads (web). Unset: the backend's default. */
  readonly threads?: number;
  /** Graph optimization level passed to onnxruntime. */
  readonly graphOptimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * Whether the intra-op pool's threads spin-wait for work (onnxruntime's default: yes). A
   * server passes false: between runs its event loop needs the cores the spinning threads
   * hold. onnxruntime-node only; unset: onnxruntime's default.
   */
  readonly spinning?: boolean;
}

/** A loaded model on one backend. */
export interface InferenceHandle {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /**
   * Graph outputs that are not tensors (a scikit-learn classifier's ZipMap gives a sequence
   * of maps), which no onnxruntime JavaScript binding can hand out: they are not fetched.
   */
  readonly skippedOutputs?: readonly { readonly name: string; readonly reason: string }[];
  /** Runs the graph; `feeds` holds every input by name, the result every (tensor) output by name. */
  run(feeds: Readonly<Record<string, TensorData>>): Promise<Record<string, TensorData>>;
  /** Frees native/WASM memory. Idempotent. */
  release(): Promise<void>;
}

/** One way of running ONNX on this host. */
export interface Backend {
  readonly id: BackendId;
  /** The npm package doing the work. */
  readonly package: 'onnxruntime-node' | 'onnxruntime-web';
  /** onnxruntime's execution provider name. */
  readonly provider: 'cuda' | 'webgpu' | 'cpu' | 'wasm';
  readonly device: 'cpu' | 'gpu';
  /**
   * Loads the package and proves the provider works (by running a tiny built-in model).
   * Throws an Error whose message is the reason when it cannot. Called once by the registry.
   */
  probe(): Promise<BackendProbeInfo>;
  /** Creates a session for ONNX model bytes. Only called after a successful probe. */
  createSession(model: Uint8Array, options?: SessionOptions): Promise<InferenceHandle>;
}

/** What a successful probe learned (versions, adapter names). */
export interface BackendProbeInfo {
  readonly version?: string;
  readonly adapter?: string;
  readonly [key: string]: unknown;
}

/** One row of the backend report. */
export interface BackendStatus {
  readonly id: BackendId;
  readonly package: Backend['package'];
  readonly provider: Backend['provider'];
  readonly device: Backend['device'];
  readonly priority: number;
  /** `available`: probed and works; `unavailable`: probed and failed; `not-probed`. */
  readonly state: 'available' | 'unavailable' | 'not-probed';
  readonly reason?: string;
  readonly info?: BackendProbeInfo;
  readonly probeMs?: number;
}
