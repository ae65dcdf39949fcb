/**
 * Worker pools on Node worker_threads (Bun implements them too): the spawn adapter the
 * Web-API-only `WorkerPool` takes, and `createNodeWorkerPool({ size })`.
 * @module
 */
import { availableParallelism } from 'node:os';
import { Worker, type MessagePort, type ResourceLimits } from 'node:worker_threads';
import type { Endpoint } from 'comlink';
import { messageOf } from '../../src/errors.ts';
import { WorkerPool, type PoolWorker, type WorkerPoolOptions } from '../../src/core/worker-pool.ts';
import { packViews, unpackViews } from './typed-wire.ts';

const ENTRY = new URL('./inference-worker.node.ts', import.meta.url);

/** Options of one Node inference worker. */
export interface NodeWorkerOptions {
  /** Node flags for the worker thread (default none). */
  readonly execArgv?: readonly string[];
  /** V8 heap limits of the worker. */
  readonly resourceLimits?: ResourceLimits;
}

/** Options of `createNodeWorkerPool`: the pool's policy minus `spawn`, plus the workers' options. */
export interface NodeWorkerPoolOptions extends Omit<WorkerPoolOptions, 'spawn' | 'size'>, NodeWorkerOptions {
  /** Workers; default: one per core but one (for the event loop), at least 1. */
  readonly size?: number;
}

/** Deno walks typed arrays in port messages element by element (typed-wire.ts says why). */
const PACK_VIEWS = typeof (process.versions as Record<string, string | undefined>)['deno'] === 'string';

/**
 * comlink's Endpoint over a Node `Worker` or `MessagePort` (EventEmitter `message` events
 * carry the data itself). On Deno, typed arrays cross as buffers (typed-wire.ts); both ends
 * of a port must use this.
 */
export function nodeEndpoint(port: Worker | MessagePort): Endpoint {
  const wrapped = new Map<EventListenerOrEventListenerObject, (data: unknown) => void>();
  return {
    postMessage: (message: unknown, transfer?: Transferable[]) => port.postMessage(PACK_VIEWS ? packViews(message) : message, transfer as never),
    addEventListener: (_type: string, l: EventListenerOrEventListenerObject) => {
      const f = (raw: unknown) => {
        const data = PACK_VIEWS ? unpackViews(raw) : raw;
        const ev = { data } as MessageEvent;
        if (typeof l === 'function') l(ev);
        else l.handleEvent(ev);
      };
      wrapped.set(l, f);
      port.on('message', f);
    },
    removeEventListener: (_type: string, l: EventListenerOrEventListenerObject) => {
      const f = wrapped.get(l);
      if (f) port.off('message', f);
      wrapped.delete(l);
    },
  };
}

/** Starts one inference worker thread running `inference-worker.node.ts`. */
export function spawnNodeInferenceWorker(opts: NodeWorkerOptions = {}): PoolWorker & { readonly worker: Worker } {
  const worker = startWorker(opts);
  let error: string | undefined;
  let listener: ((reason: string) => void) | undefined;
  // 'error' (an uncaught exception) comes before 'exit'; keep its message for the exit reason.
  worker.on('error', (e) => { error ??= messageOf(e); });
  worker.on('exit', (code) => listener?.(`the worker exited with code ${code}${error ? `: ${error}` : ''}`));
  return { worker, endpoint: nodeEndpoint(worker), terminate: () => worker.terminate(), onExit: (l) => { listener = l; } };
}

/** A pool of `size` Node worker threads, each with its own onnxruntime sessions. */
export function createNodeWorkerPool(opts: NodeWorkerPoolOptions = {}): WorkerPool {
  const { execArgv, resourceLimits, size, ...policy } = opts;
  return new WorkerPool({
    ...policy,
    size: size ?? Math.max(1, availableParallelism() - 1),
    spawn: () => spawnNodeInferenceWorker({ execArgv, resourceLimits }),
  });
}

/** Bun and Deno run the TypeScript entry as is; Node runs it through tsx. */
function startWorker(opts: NodeWorkerOptions): Worker {
  const o = { execArgv: [...(opts.execArgv ?? [])], resourceLimits: opts.resourceLimits };
  const v = process.versions as Record<string, string | undefined>;
  if (v['bun'] || v['deno']) return new Worker(ENTRY, o);
  // `--import tsx` in a worker's execArgv loads no hooks on Node 20 (the worker fails with
  // ERR_UNKNOWN_FILE_EXTENSION), so a two-line bootstrap registers tsx in the thread first.
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const boot = `import(${tsx}).then((tsx) => { tsx.register(); return import(${JSON.stringify(ENTRY.href)}); });`;
  return new Worker(boot, { ...o, eval: true });
}
