/**
 * onnxruntime-web's WASM assets: which files each build needs, so hosts that cannot read
 * node_modules at run time (browsers, Cloudflare Workers, bundles) can ship and serve them
 * themselves instead of fetching them from a CDN. Web-API-only.
 * @module
 */

/** onnxruntime-web builds omniserve uses, by backend. */
export type WasmBuild = 'wasm' | 'webgpu';

/** The files of each build: the emscripten glue module and its WebAssembly binary. */
export const WASM_ASSETS: Readonly<Record<WasmBuild, readonly string[]>> = Object.freeze({
  // `onnxruntime-web` (WASM-SIMD, threads when SharedArrayBuffer is available)
  wasm: Object.freeze(['ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm']),
  // `onnxruntime-web/webgpu` (JSEP build: WebGPU kernels + WASM fallback)
  webgpu: Object.freeze(['ort-wasm-simd-threaded.jsep.mjs', 'ort-wasm-simd-threaded.jsep.wasm']),
});

/** Every asset file name, once. */
export function allWasmAssets(): string[] {
  return [...new Set(Object.values(WASM_ASSETS).flat())];
}

/**
 * `env.wasm.wasmPaths` for assets served under `base` (a URL or path prefix ending in `/`),
 * e.g. `/ort/` when an app serves them itself.
 */
export function wasmPathsFor(base: string): string {
  return base.endsWith('/') ? base : `${base}/`;
}
