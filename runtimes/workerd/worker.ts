/**
 * The Cloudflare Workers entry (a module Worker). Not run from source: `scripts/build-workerd.ts`
 * bundles it into `.tmp/workerd/worker.js`, with `ort-wasm-simd-threaded.wasm` (a
 * CompiledWasm module) and each model (a Data module) beside it, and generates
 * `omniserve:bundled-models` listing the models and their configs. Nothing is fetched or
 * compiled at run time: no CDN, no `WebAssembly.compile`.
 * @module
 */
// The onnxruntime-web build with the emscripten glue embedded, so no glue module is
// fetched either; its `.wasm` comes from the import below.
import * as ort from 'onnxruntime-web/wasm';
import ortWasm from './ort-wasm-simd-threaded.wasm';
import { models } from 'omniserve:bundled-models';
import type { OrtModule } from '../../src/backends/onnxruntime.ts';
import { createWorker } from './handler.ts';

export default createWorker({
  wasm: ortWasm,
  loadOrt: async () => ort as unknown as OrtModule,
  models,
});
