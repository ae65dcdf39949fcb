/**
 * The batch worker thread: loads the model once, then reads, scores and writes whole units,
 * so decoding and encoding Parquet run on every core and not only inference.
 * Started by `createBatchPool` in `./batch-pool.ts`.
 * @module
 */
import { parentPort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { createEngine, parseBackendRequest } from '../../src/index.ts';
import { featureInput } from '../../src/batch/score.ts';
import { UnitRunner, type UnitSettings } from '../../src/batch/unit.ts';
import type { WorkUnit } from '../../src/batch/plan.ts';
import { createNativeRuntime } from './runtime.ts';
import { nodeBatchHost } from './batch-io.ts';
import { nodeEndpoint } from './worker-pool.ts';
import type { BatchModelSpec } from './batch-pool.ts';

if (!parentPort) throw new Error('batch-worker.node.ts runs as a worker thread; start it with createBatchPool()');

let runner: UnitRunner | undefined;
const api = {
  async init(model: BatchModelSpec, settings: UnitSettings): Promise<void> {
    const engine = createEngine(createNativeRuntime());
    // One intra-op thread: the pool already runs one worker per core.
    const m = await engine.models.load({
      source: model.path, config: model.config, backend: parseBackendRequest(model.backend), session: { threads: 1 },
    });
    runner = new UnitRunner(m, featureInput(m), nodeBatchHost(), settings);
  },
  run(unit: WorkUnit) {
    if (!runner) throw new Error('batch worker: init() first');
    return runner.run(unit);
  },
};
export type BatchWorkerApi = typeof api;
Comlink.expose(api, nodeEndpoint(parentPort));
