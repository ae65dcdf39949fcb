/**
 * The batch worker thread: loads the model once, then reads, scores and writes whole units,
 * so decoding and encoding Parquet run on every core and not only inference.
 * Started by `createBatchPool` in `./batch-pool.ts`.
 * @module
 */
import { parentPort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { createEngine, parseBackendRequest, type Model } from '../../src/index.ts';
import { featureInput } from '../../src/batch/score.ts';
import { UnitRunner, type UnitSettings } from '../../src/batch/unit.ts';
import type { WorkUnit } from '../../src/batch/plan.ts';
import { createNativeRuntime } from './runtime.ts';
import { nodeBatchHost } from './batch-io.ts';
import { nodeEndpoint } from './worker-pool.ts';
import type { BatchModelSpec } from './batch-pool.ts';

if (!parentPort) throw new Error('batch-worker.node.ts runs as a worker thread; start it with createBatchPool()');

let model: Model | undefined;
let runner: UnitRunner | undefined;
const host = nodeBatchHost();
const api = {
  /** Loads the model (the pool boots workers before the run's settings are known). */
  async init(spec: BatchModelSpec): Promise<void> {
    const engine = createEngine(createNativeRuntime());
    // One intra-op thread: the pool already runs one worker per core.
    model = await engine.models.load({
      source: spec.path, config: spec.config, backend: parseBackendRequest(spec.backend), session: { threads: 1 },
    });
  },
  /** The run this worker scores units of. */
  async configure(settings: UnitSettings): Promise<void> {
    if (!model) throw new Error('batch worker: init() first');
    await runner?.close();
    runner = new UnitRunner(model, featureInput(model), host, settings);
  },
  run(unit: WorkUnit) {
    if (!runner) throw new Error('batch worker: configure() first');
    return runner.run(unit);
  },
};
export type BatchWorkerApi = typeof api;
Comlink.expose(api, nodeEndpoint(parentPort));
