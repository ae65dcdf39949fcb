/**
 * Interleaved timing of the three paths (raw, infer, predict). On a shared, noisy machine a
 * burst of load would skew whichever path happened to run during it; so the paths take
 * short turns in rotating order until each has run its full time, and a burst (or the GC
 * debt one path leaves for the next) lands on all three alike.
 * @module
 */
import { summarize, type Measurement } from './stats.ts';

/** The three paths, in their order of the first round of turns. */
export const KINDS = ['raw', 'infer', 'predict'] as const;
/** One of the measured paths. */
export type Kind = (typeof KINDS)[number];

/** How long to measure. */
export interface TimingPlan {
  /** Measured seconds per path. */
  readonly seconds: number;
  /** Seconds of one turn; a turn makes at least one call, so slow calls get fewer turns. */
  readonly turnSeconds: number;
  /** Unmeasured seconds per path before the first turn (JIT, allocator, shader compile). */
  readonly warmupSeconds: number;
}

/**
 * Calls `fn` back to back for `ms` (at least once), pushing each call's latency. Each call's
 * end is the next one's start, so the latencies add up to the returned wall time.
 */
async function timeSlice(fn: () => Promise<unknown>, ms: number, latencies: number[]): Promise<number> {
  const t0 = performance.now();
  const end = t0 + ms;
  let t = t0;
  do {
    const start = t;
    await fn();
    t = performance.now();
    latencies.push(t - start);
  } while (t < end);
  return t - t0;
}

/** Warms every path up, then lets them take turns, rotating who goes first, until each ran `seconds`. */
export async function measureInterleaved(
  paths: Readonly<Record<Kind, () => Promise<unknown>>>,
  batch: number,
  plan: TimingPlan,
): Promise<Record<Kind, Measurement>> {
  for (const k of KINDS) await timeSlice(paths[k], plan.warmupSeconds * 1000, []);
  const latencies: Record<Kind, number[]> = { raw: [], infer: [], predict: [] };
  const wall: Record<Kind, number> = { raw: 0, infer: 0, predict: 0 };
  const target = plan.seconds * 1000;
  for (let round = 0; KINDS.some((k) => wall[k] < target); round++) {
    for (let i = 0; i < KINDS.length; i++) {
      const k = KINDS[(round + i) % KINDS.length]!;
      if (wall[k] < target) wall[k] += await timeSlice(paths[k], Math.min(plan.turnSeconds * 1000, target - wall[k]), latencies[k]);
    }
  }
  return {
    raw: summarize(latencies.raw, wall.raw, batch),
    infer: summarize(latencies.infer, wall.infer, batch),
    predict: summarize(latencies.predict, wall.predict, batch),
  };
}
