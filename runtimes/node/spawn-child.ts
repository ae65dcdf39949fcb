/**
 * Node's serving processes: the cluster module, so children share the primary's port.
 * @module
 */
import cluster from 'node:cluster';
import type { SpawnChild } from '../serve/supervisor.ts';

/** Forks a cluster worker running the same command line. */
export const spawnNodeChild: SpawnChild = (index) => {
  const worker = cluster.fork({ OMNISERVE_WORKER_INDEX: String(index) });
  return {
    pid: worker.process.pid,
    kill: (signal) => worker.process.kill(signal),
    exited: new Promise((resolve) => worker.once('exit', (code, signal) => resolve(signal ?? code))),
  };
};
