/**
 * Medians over a variant's rounds (the realtime part runs each server configuration
 * `rounds` times, interleaved with the others).
 * @module
 */
import type { VariantSummary, WrkRun } from './types.ts';

/** The median; of an even count, the mean of the middle two. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Summarises the runs of one variant. */
export function summarizeRuns(runs: readonly WrkRun[]): VariantSummary {
  return {
    rounds: runs.length,
    requestsPerSec: median(runs.map((r) => r.result.requestsPerSec)),
    p50Ms: median(runs.map((r) => r.result.latencyMs.p50)),
    p99Ms: median(runs.map((r) => r.result.latencyMs.p99)),
    ...cpuMedians(runs),
    problems: runs.flatMap((r) => r.problems.map((p) => `round ${r.round}: ${p}`)),
  };
}

function cpuMedians(runs: readonly WrkRun[]): Pick<VariantSummary, 'serverCpuUs' | 'redisCpuUs' | 'wrkCpuUs'> {
  const server = runs.map((r) => r.cpu?.serverUsPerRequest).filter((x): x is number => x !== undefined);
  const redis = runs.map((r) => r.cpu?.redisUsPerRequest).filter((x): x is number => x !== undefined);
  const wrk = runs.map((r) => r.cpu?.wrkUsPerRequest).filter((x): x is number => x !== undefined);
  return {
    ...(server.length ? { serverCpuUs: median(server) } : {}),
    ...(redis.length ? { redisCpuUs: median(redis) } : {}),
    ...(wrk.length ? { wrkCpuUs: median(wrk) } : {}),
  };
}

/**
 * The ×hello a variant would reach if both it and hello kept every core busy: hello's CPU per
 * request (server + wrk) ÷ the variant's (server + Redis + wrk). Server, Redis and wrk share
 * the machine's cores, so served req/s ≈ busy cores ÷ CPU per request, and the measured
 * ratio sits below this ceiling by however much more idle time the variant leaves (waiting
 * on Redis round trips). Undefined without the CPU figures.
 */
export function cpuCeiling(hello: VariantSummary | undefined, s: VariantSummary): number | undefined {
  if (hello?.serverCpuUs === undefined || hello.wrkCpuUs === undefined || s.serverCpuUs === undefined || s.wrkCpuUs === undefined) return undefined;
  return (hello.serverCpuUs + hello.wrkCpuUs) / (s.serverCpuUs + (s.redisCpuUs ?? 0) + s.wrkCpuUs);
}
