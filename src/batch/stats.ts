/**
 * Running statistics of predictions (count, mean, min, max), mergeable across units and
 * partitions: the manifest keeps sums so a resumed run adds up to what one run would give.
 * @module
 */

/** Statistics as the manifest stores them (`sum` kept so merges stay exact). */
export interface PredictionStats {
  count: number;
  sum: number;
  mean: number | null;
  min: number | null;
  max: number | null;
}

/** No rows yet. */
export function emptyStats(): PredictionStats {
  return { count: 0, sum: 0, mean: null, min: null, max: null };
}

/** Statistics of `values[idx]` (all of `values` when `idx` is absent). */
export function statsOf(values: Float64Array, idx?: readonly number[] | Uint32Array): PredictionStats {
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  const n = idx ? idx.length : values.length;
  for (let i = 0; i < n; i++) {
    const x = values[idx ? idx[i]! : i]!;
    sum += x;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  return n ? { count: n, sum, mean: sum / n, min, max } : emptyStats();
}

/** `a` and `b` together. */
export function mergeStats(a: PredictionStats, b: PredictionStats): PredictionStats {
  if (!a.count) return { ...b };
  if (!b.count) return { ...a };
  const count = a.count + b.count;
  const sum = a.sum + b.sum;
  return { count, sum, mean: sum / count, min: Math.min(a.min!, b.min!), max: Math.max(a.max!, b.max!) };
}
