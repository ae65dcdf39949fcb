/**
 * bench/results/stream.json.
 * @module
 */
import type { Machine } from '../core/types.ts';

/** Latency distribution in milliseconds (nearest-rank percentiles over every event). */
export interface Dist { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number; readonly n: number }

/** One backlog drain: `events` preloaded, then `processes` runners started. */
export interface ThroughputRun {
  /** Where the runners ran (absent in results from before Bun: node). */
  readonly host?: 'node' | 'bun';
  readonly mode: 'pipe' | 'model';
  readonly processes: number;
  readonly round: number;
  readonly events: number;
  /** How fast the benchmark's producer put the events in (all sends acknowledged, runners frozen). */
  readonly producedPerSec: number;
  /** Outputs ÷ (10th → 90th percentile of output CreateTime), × 0.8. */
  readonly eventsPerSec: number;
  /** Outputs ÷ (first → last output CreateTime). */
  readonly eventsPerSecAll: number;
  /** Runners let go (SIGCONT) → last output read back. */
  readonly wallSeconds: number;
  /** Each process's partitions at join. */
  readonly partitions: number[][];
  /** Outputs seen (more than `events` would mean redelivery). */
  readonly outputs: number;
}

/** A steady-rate run: events produced at `rate`/s while one runner keeps up. */
export interface LatencyRun {
  /** Where the runner ran (absent in results from before Bun: node). */
  readonly host?: 'node' | 'bun';
  readonly mode: 'pipe' | 'model';
  readonly processes: number;
  readonly rate: number;
  /** librdkafka `fetch.wait.max.ms` of the runner and the reader; null: librdkafka's default (500). */
  readonly fetchWaitMs: number | null;
  readonly seconds: number;
  readonly sent: number;
  readonly received: number;
  /** Produce call in the client → output read back by a consumer. */
  readonly endToEndMs: Dist;
  /** Produce call in the client → the runner's produce call for the output (output CreateTime). */
  readonly toOutputMs: Dist;
}

export interface StreamResults {
  readonly benchmark: 'stream';
  readonly date: string;
  readonly revision: string;
  readonly command: string;
  readonly seconds: number;
  readonly machine: Machine;
  readonly settings: {
    readonly events: number; readonly partitions: number; readonly brokers: number; readonly batchSize: number;
    readonly lingerMs: number; readonly concurrency: number; readonly rounds: number; readonly client: string;
  };
  readonly runs: ThroughputRun[];
  readonly latency: LatencyRun[];
}
