/**
 * The inference worker entry for Deno Web Workers: builds the native runtime (onnxruntime-node
 * through Deno's Node-API support, then onnxruntime-web) and exposes the worker API on the
 * worker's global scope. Start it with
 * `fromWebWorker(new Worker(new URL('./inference-worker.ts', import.meta.url), { type: 'module' }))`.
 * @module
 */
import * as Comlink from 'comlink';
import { createInferenceWorkerApi } from '../../workers/inference.worker.ts';
import { createNativeRuntime } from '../native/runtime.ts';

// The worker's global scope is the endpoint; the DOM typings call it a Window, hence the cast.
Comlink.expose(createInferenceWorkerApi(createNativeRuntime()), globalThis as unknown as Comlink.Endpoint);
