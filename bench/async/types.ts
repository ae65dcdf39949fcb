/**
 * The JSON bench/async writes (bench/results/async.json).
 * @module
 */
import type { Machine } from '../core/types.ts';
import type { WrkRun } from '../realtime/types.ts';

/** A latency distribution, ms. */
export interface Dist {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/**
 * One async run with N workers.
 * - `live`: the workers run while the client submits (the figure): jobs/s = completed ÷
 *   (first POST sent → last job's updated_at).
 * - `backlog`: every job is submitted first with no worker running, then N workers drain the
 *   queue: jobs/s over the middle 80 % of completions (10th → 90th percentile of updated_at),
 *   so worker start-up is left out. What the workers alone can do, with no submitting beside them.
 */
export interface AsyncRun {
  readonly mode: 'live' | 'backlog';
  readonly workers: number;
  readonly jobs: number;
  /** Seconds to start the N worker processes (in parallel) up to their `{"event":"worker"}` lines. */
  readonly workerStartSeconds: number;
  /** POSTs answered 202 ÷ (first POST sent → last 202), jobs/s. */
  readonly submitPerSec: number;
  readonly submitSeconds: number;
  readonly refused: number;
  readonly firstRefusal?: string;
  readonly completed: number;
  /** Final status `failed`. */
  readonly failed: number;
  /** Not final when read back, unreadable, or completed without a probability in [0, 1]. */
  readonly bad: number;
  readonly firstBad?: string;
  /** Jobs run more than once (redelivered). */
  readonly redelivered: number;
  readonly jobsPerSec: number;
  /** Seconds jobsPerSec is taken over. */
  readonly seconds: number;
  /** updated_at − created_at: stored by the server → result stored by a worker. */
  readonly queueLatencyMs: Dist;
  /** updated_at − when the client sent the POST: what a client waits, submit included. */
  readonly endToEndLatencyMs: Dist;
  /** Realtime req/s this is compared with: the mean of the realtime runs just before and after. */
  readonly realtimeReqPerSec?: number;
  readonly ratio?: number;
}

/** bench/results/async.json. */
export interface AsyncResults {
  readonly benchmark: 'async';
  readonly date: string;
  readonly command: string;
  readonly revision: string;
  readonly machine: Machine & { readonly wrk: string; readonly redis: string };
  readonly settings: {
    readonly jobs: number;
    readonly workers: readonly number[];
    readonly inFlight: number;
    readonly workerConcurrency: number;
    readonly backlog: boolean;
    readonly realtimeSeconds: number;
    readonly warmupSeconds: number;
    readonly threads: number;
    readonly connections: number;
    readonly users: number;
    readonly items: number;
    readonly server: readonly string[];
    readonly worker: readonly string[];
    readonly config: unknown;
  };
  readonly seed: { readonly users: number; readonly items: number; readonly userFields: number; readonly itemFields: number; readonly seconds: number };
  /** In order: before the first async run, then after each worker count. */
  readonly realtime: readonly WrkRun[];
  readonly runs: readonly AsyncRun[];
  readonly seconds: number;
}
