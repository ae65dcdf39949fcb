/**
 * The JSON bench/realtime writes (bench/results/realtime.json), and the goals it checks.
 * @module
 */
import type { Machine } from '../core/types.ts';
import type { Kind, TimingPlan } from '../core/measure.ts';
import type { Measurement } from '../core/stats.ts';
import type { Host } from './servers.ts';
import type { ServerStats } from './server-metrics.ts';
import type { WrkResult } from './wrk.ts';

/** The goals. */
export const GOALS = {
  /** omniserve requests/s ÷ hello-world requests/s on the same host, same run. */
  ratio: { node: 0.4, bun: 0.5, deno: 0.5 } as Readonly<Record<Host, number>>,
  /** omniserve's p99 latency at 64 connections, ms. */
  p99Ms: 10,
  /** Heavy model: served rows/s ÷ raw in-process rows/s at batch 64. */
  heavyRatio: 0.7,
} as const;

/** One measured wrk run against one freshly started server. */
export interface WrkRun {
  /** Which server configuration (a {@link Variant} id, or a heavy-model case). */
  readonly variant: string;
  readonly round: number;
  /** The server's command line (from the repository root). */
  readonly server: readonly string[];
  /** Seconds from spawn to the listening line. */
  readonly startSeconds: number;
  /** The wrk command line of the measurement. */
  readonly wrk: string;
  /** requests/s of the warm-up run before it (not counted). */
  readonly warmupRequestsPerSec: number;
  readonly result: WrkResult;
  /** wrk's stdout, verbatim. */
  readonly raw: string;
  /** Non-2xx responses, socket errors: a run with any is flagged, not a good figure. */
  readonly problems: readonly string[];
  /** omniserve's /metrics over the measurement (batch sizes, run and lookup times). */
  readonly stats?: ServerStats;
  /** CPU µs per request over the measurement: the server's (with its child processes), Redis's and wrk's. */
  readonly cpu?: { readonly serverUsPerRequest: number; readonly redisUsPerRequest?: number; readonly wrkUsPerRequest?: number };
}

/** A server configuration the realtime part loads. */
export interface Variant {
  readonly id: string;
  readonly title: string;
  /** hello.ts (the baseline), `omniserve serve`, or floor.ts (the job hand-written, nothing else). */
  readonly kind: 'hello' | 'omniserve' | 'floor';
  /** omniserve.json `batching` (default: the batcher's defaults, maxDelayMs 0). */
  readonly batching?: { readonly maxDelayMs?: number };
  /** Diagnostics: hello-world reading the body as omniserve does (`hello.ts --body stream`). */
  readonly helloBody?: 'stream';
  /** Diagnostics: hello-world answering with a reply the size of omniserve's `/predict` answer (`hello.ts --reply seed`). */
  readonly helloReply?: 'seed';
  /** Diagnostics: omniserve without Redis, the 30 features sent in the body (one fixed row). */
  readonly featuresInBody?: boolean;
  /** omniserve `server.workers`: serving processes sharing one port (the multi-core scaling). */
  readonly workers?: number;
  /** The Redis store's `clientCache`: hashes held in memory, invalidated by Redis (not the goal's setting). */
  readonly clientCache?: boolean;
}

/** Medians over a variant's rounds. */
export interface VariantSummary {
  readonly rounds: number;
  readonly requestsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Median CPU µs per request of the server (and its workers), and of Redis for its lookups. */
  readonly serverCpuUs?: number;
  readonly redisCpuUs?: number;
  /** Median CPU µs per request of wrk itself (the load generator shares the cores). */
  readonly wrkCpuUs?: number;
  /** Every round's problems, prefixed with its round. */
  readonly problems: readonly string[];
}

/** The realtime (breast-cancer + Redis) part on one host. */
export interface RealtimeHost {
  readonly host: Host;
  readonly status: 'ok' | 'failed';
  readonly reason?: string;
  readonly seconds: number;
  readonly runs: readonly WrkRun[];
  readonly summary: Readonly<Record<string, VariantSummary>>;
  /** Per omniserve variant: its median requests/s ÷ hello's. */
  readonly ratio: Readonly<Record<string, number>>;
}

/** What heavy-raw.ts prints. */
export interface HeavyRawReport extends Record<Kind, Measurement> {
  readonly host: { readonly name: string; readonly version: string | undefined };
  readonly backend: string;
  readonly batch: number;
  readonly plan: TimingPlan;
}

/** One served heavy-model case: wrk sending `rowsPerRequest` rows per request. */
export interface HeavyServed {
  readonly rowsPerRequest: number;
  /** Open Inference Protocol requests with the tensor as binary data (else JSON instances). */
  readonly oip?: boolean;
  readonly connections: number;
  /** Rows answered ÷ seconds measured, over all its slices. */
  readonly rowsPerSec: number;
  /** rowsPerSec ÷ raw rows/s at batch 64 (over the raw slices around these). */
  readonly ratio: number;
  /** Medians over slices. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly meanBatchRows: number;
  readonly problems: readonly string[];
  /** One wrk run per slice. */
  readonly runs: readonly WrkRun[];
}

/** The heavy-model part on one host. */
export interface HeavyHost {
  readonly host: Host;
  readonly status: 'ok' | 'failed';
  readonly reason?: string;
  readonly seconds: number;
  /** Raw rows/s over every in-process slice (rows ÷ wall time). */
  readonly rawRowsPerSec?: number;
  /** The in-process slices, in order (they alternate with the served ones). */
  readonly raw: readonly HeavyRawReport[];
  readonly served: Readonly<Record<string, HeavyServed>>;
}

/** bench/results/realtime.json. */
export interface RealtimeResults {
  readonly benchmark: 'realtime';
  readonly date: string;
  readonly command: string;
  readonly revision: string;
  readonly machine: Machine & { readonly wrk: string; readonly redis: string };
  readonly settings: {
    readonly durationS: number;
    readonly warmupS: number;
    readonly rounds: number;
    readonly threads: number;
    readonly connections: number;
    readonly users: number;
    readonly items: number;
    readonly variants: readonly Variant[];
    readonly heavy: {
      readonly model: string;
      readonly params: number;
      readonly bytes: number;
      /** Seconds per path of one in-process slice. */
      readonly rawSeconds: number;
      /** Rounds of raw slice, 64-row slice, 1-row slice (then one more raw slice). */
      readonly rounds: number;
      /** Seconds of one served slice. */
      readonly servedSeconds: number;
    };
  };
  readonly goals: typeof GOALS;
  readonly seed?: { readonly users: number; readonly items: number; readonly userFields: number; readonly itemFields: number; readonly seconds: number };
  readonly realtime: readonly RealtimeHost[];
  readonly heavy: readonly HeavyHost[];
  readonly seconds: number;
}
