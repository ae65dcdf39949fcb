/**
 * `models[].workers: "auto"`, the default: how many worker threads serve a model. A model
 * whose batch run holds the thread for {@link AUTO_WORKER_MS} or more (timed at load on its
 * backend: a run of {@link AUTO_PROBE_ROWS} rows of zeros, or of its fixed batch) gets one
 * worker thread, so the event loop goes on answering other requests while it runs; a lighter
 * one runs in-process, where it saves the hop to the thread. 10 ms is the realtime p99 goal:
 * one longer run alone breaks it for every request queued behind it. Seen on the 2-core
 * machine: breast-cancer's 64-row run ~0.05 ms, bench/realtime's heavy MLP
 * (1024→4096→4096→4096→1) ~31 ms.
 * @module
 */
import { availableParallelism } from 'node:os';
import type { Model } from '../../src/core/model.ts';
import type { WorkerPool } from '../../src/core/worker-pool.ts';

export const AUTO_WORKER_MS = 10;
export const AUTO_PROBE_ROWS = 64;

/** How many worker threads, and why. */
export interface WorkersChoice {
  readonly workers: number;
  /** Where the runs go, for the model's metadata (`runsIn`), when to a pool. */
  readonly runsIn?: string;
}

/** The worker threads for `model` given its entry's `workers`. */
export async function chooseWorkers(model: Model, asked: number | 'auto'): Promise<WorkersChoice> {
  if (asked !== 'auto') return asked > 0 ? { workers: asked, runsIn: `worker threads (models[].workers: ${asked})` } : { workers: 0 };
  const ms = await model.timeRun(AUTO_PROBE_ROWS);
  if (ms === undefined || ms < AUTO_WORKER_MS) return { workers: 0 };
  return { workers: 1, runsIn: `a worker thread (models[].workers: auto; a ${AUTO_PROBE_ROWS}-row run took ${ms.toFixed(1)} ms, over ${AUTO_WORKER_MS} ms)` };
}

/** A pool's session options: `threads` when the entry sets it, else the cores split between its workers (N workers each with every core would fight). */
export function poolSession(workers: number, entry: { readonly threads?: number; readonly spinning?: boolean }): { threads: number; spinning: boolean } {
  return { threads: entry.threads ?? Math.max(1, Math.floor(availableParallelism() / workers)), spinning: entry.spinning ?? false };
}

/**
 * Loads `model`'s version into `pool` from `bytes` (the bytes the registry read) and frees
 * the in-process session: its runs go to the pool from now on, and the model would otherwise
 * sit in memory twice.
 */
export async function serveFromPool(pool: WorkerPool, model: Model, bytes: Uint8Array, session: { threads: number; spinning: boolean }, runsIn: string): Promise<void> {
  await pool.load({ bytes, name: model.name, version: model.version, config: model.config, backend: model.backend.id, session });
  await model.runElsewhere(runsIn);
}
