/**
 * onnxruntime-web backends (WebGPU, WASM-SIMD). Web-API-only, so they live in `src/`;
 * hosts that must load the WASM differently (workerd, bundled browser code) pass their own
 * module loaders and WASM settings.
 * @module
 */
import { requireWebGpuAdapter } from './host.ts';
import { createOrtBackend, type OrtModule } from './onnxruntime.ts';
import type { Backend } from './types.ts';

/** Options for the web backends. */
export interface WebBackendOptions {
  /** Loads onnxruntime-web's WASM build. Default: `import('onnxruntime-web')`. */
  readonly loadWasm?: () => Promise<OrtModule>;
  /** Loads onnxruntime-web's WebGPU build. Default: `import('onnxruntime-web/webgpu')`. */
  readonly loadWebGpu?: () => Promise<OrtModule>;
  /** WASM threads (needs SharedArrayBuffer). Default 1: predictable on servers and edge. */
  readonly threads?: number;
  /** Extra `env.wasm` settings: `wasmPaths`, `wasmBinary`, `proxy`… */
  readonly wasm?: Record<string, unknown>;
  /** The global object to look for `navigator.gpu` on. */
  readonly global?: object;
}

function configured(load: () => Promise<OrtModule>, o: WebBackendOptions): () => Promise<OrtModule> {
  return async () => {
    const ort = await load();
    const wasm = ort.env.wasm ?? {};
    wasm['numThreads'] = o.threads ?? 1;
    Object.assign(wasm, o.wasm ?? {});
    return ort;
  };
}

/** The two onnxruntime-web backends, best first: `web-webgpu`, `web-wasm`. */
export function createWebBackends(o: WebBackendOptions = {}): Backend[] {
  const loadWasm = o.loadWasm ?? (() => import('onnxruntime-web') as unknown as Promise<OrtModule>);
  const loadWebGpu = o.loadWebGpu ?? (() => import('onnxruntime-web/webgpu') as unknown as Promise<OrtModule>);
  return [
    createOrtBackend({
      id: 'web-webgpu', package: 'onnxruntime-web', provider: 'webgpu', device: 'gpu', webgpu: true,
      precheck: () => requireWebGpuAdapter(o.global),
      load: configured(loadWebGpu, o),
    }),
    createOrtBackend({
      id: 'web-wasm', package: 'onnxruntime-web', provider: 'wasm', device: 'cpu',
      load: configured(loadWasm, o),
    }),
  ];
}
