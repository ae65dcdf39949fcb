/**
 * Statistics of one measurement: throughput from wall time, latency percentiles from the
 * sorted per-run latencies.
 * @module
 */

/** Per-run latency summary, in milliseconds. */
export interface LatencyMs {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly mean: number;
  readonly min: number;
  readonly max: number;
}

/** One measured thing (e.g. `predict` of one model at one batch size). */
export interface Measurement {
  /** Calls made (each scores `batch` rows). */
  readonly runs: number;
  /** Rows scored: runs × batch. */
  readonly rows: number;
  /** Wall time of the measurement, summed over its slices. */
  readonly wallMs: number;
  /** rows / wall time. */
  readonly rowsPerSec: number;
  readonly latencyMs: LatencyMs;
}

/**
 * Nearest-rank percentile (the smallest value with at least p % of values ≤ it) of values
 * sorted ascending: always an observed latency, never an interpolation between two runs.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** Summarises per-run latencies (ms) measured over `wallMs` of wall time, `batch` rows per run. */
export function summarize(latencies: readonly number[], wallMs: number, batch: number): Measurement {
  const sorted = [...latencies].sort((a, b) => a - b);
  const sum = sorted.reduce((s, x) => s + x, 0);
  const rows = sorted.length * batch;
  return {
    runs: sorted.length,
    rows,
    wallMs,
    rowsPerSec: wallMs > 0 ? rows / (wallMs / 1000) : 0,
    latencyMs: {
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99: percentile(sorted, 99),
      mean: sorted.length ? sum / sorted.length : Number.NaN,
      min: sorted[0] ?? Number.NaN,
      max: sorted[sorted.length - 1] ?? Number.NaN,
    },
  };
}
