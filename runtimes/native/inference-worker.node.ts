/**
 * The inference worker entry for Node worker_threads (and Bun, which implements them):
 * builds the native runtime and exposes the worker API on `parentPort`.
 * Started by `spawnNodeInferenceWorker` in `./worker-pool.ts`.
 * @module
 */
import { parentPort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { createInferenceWorkerApi } from '../../workers/inference.worker.ts';
import { createNativeRuntime } from './runtime.ts';
import { nodeEndpoint } from './worker-pool.ts';

if (!parentPort) throw new Error('inference-worker.node.ts runs as a worker thread; start it with spawnNodeInferenceWorker()');
Comlink.expose(createInferenceWorkerApi(createNativeRuntime()), nodeEndpoint(parentPort));
