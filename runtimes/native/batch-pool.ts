/**
 * A pool of batch worker threads, one unit per worker at a time. A worker that dies fails
 * the unit it held (reported, retried by --resume) and is not replaced: a unit that kills
 * one worker would kill the next.
 * @module
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import * as Comlink from 'comlink';
import type { UnitExecutor } from '../../src/batch/run.ts';
import type { UnitResult, UnitSettings } from '../../src/batch/unit.ts';
import type { WorkUnit } from '../../src/batch/plan.ts';
import { statsOf } from '../../src/batch/stats.ts';
import type { BatchWorkerApi } from './batch-worker.node.ts';
import { nodeEndpoint } from './worker-pool.ts';

const ENTRY = new URL('./batch-worker.node.ts', import.meta.url);

/** Where the workers load the model from. */
export interface BatchModelSpec {
  readonly path: string;
  readonly config?: unknown;
  readonly backend?: string;
}

interface Slot { worker: Worker; api: Comlink.Remote<BatchWorkerApi>; dead?: string; died: Promise<string> }

/** Starts `size` workers (default: one per core), each with the model loaded. */
export async function createBatchPool(model: BatchModelSpec, settings: UnitSettings, size = availableParallelism()): Promise<UnitExecutor & { close(): Promise<void> }> {
  const slots: Slot[] = Array.from({ length: Math.max(1, size) }, () => {
    const worker = startWorker();
    let error = '';
    worker.on('error', (e) => { error ||= e.message; });
    const slot: Slot = {
      worker, api: Comlink.wrap<BatchWorkerApi>(nodeEndpoint(worker)),
      died: new Promise((res) => worker.on('exit', (code) => { slot.dead = `batch worker exited with code ${code}${error ? `: ${error}` : ''}`; res(slot.dead); })),
    };
    return slot;
  });
  const close = async () => { await Promise.all(slots.map((s) => s.worker.terminate())); };
  try {
    await Promise.all(slots.map((s) => Promise.race([s.api.init(model, settings), s.died.then((d) => Promise.reject(new Error(d)))])));
  } catch (e) {
    await close();
    throw e;
  }
  const idle = [...slots];
  const waiting: ((s: Slot) => void)[] = [];
  const release = (s: Slot) => { const w = waiting.shift(); if (w) w(s); else idle.push(s); };
  return {
    capacity: slots.length,
    async run(unit: WorkUnit): Promise<UnitResult> {
      const slot = idle.pop() ?? await new Promise<Slot>((res) => waiting.push(res));
      const failed = (message: string): UnitResult => ({
        id: unit.id, file: unit.file, rowStart: unit.rowStart, rowEnd: unit.rowEnd, rows: 0, outputs: [], stats: statsOf(new Float64Array(0)),
        error: { code: 'WORKER_DIED', message: `${unit.file} rows ${unit.rowStart}..${unit.rowEnd}: ${message}` },
      });
      if (slot.dead) return failed(slot.dead);
      const r = await Promise.race([slot.api.run(unit), slot.died.then(failed)]);
      release(slot);
      return r;
    },
    close,
  };
}

/** Bun and Deno run the TypeScript entry as is; Node registers tsx in the thread first. */
function startWorker(): Worker {
  const v = process.versions as Record<string, string | undefined>;
  if (v['bun'] || v['deno']) return new Worker(ENTRY);
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  return new Worker(`import(${tsx}).then((tsx) => { tsx.register(); return import(${JSON.stringify(ENTRY.href)}); });`, { eval: true });
}
