// The realtime report's medians and its CPU ceiling (the ×hello CPU per request allows).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpuCeiling, median, summarizeRuns } from './stats.ts';
import type { VariantSummary, WrkRun } from './types.ts';

const summary = (cpu: Partial<Pick<VariantSummary, 'serverCpuUs' | 'redisCpuUs' | 'wrkCpuUs'>>): VariantSummary =>
  ({ rounds: 1, requestsPerSec: 1, p50Ms: 1, p99Ms: 1, problems: [], ...cpu });

test('median of odd and even counts', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
});

test('summarizeRuns takes the median CPU per request of server, Redis and wrk', () => {
  const run = (server: number, redis: number, wrk: number) => ({
    result: { requestsPerSec: 1, latencyMs: { p50: 1, p99: 2 } }, problems: [],
    cpu: { serverUsPerRequest: server, redisUsPerRequest: redis, wrkUsPerRequest: wrk },
  }) as unknown as WrkRun;
  const s = summarizeRuns([run(40, 9, 14), run(50, 11, 16), run(45, 10, 30)]);
  assert.deepEqual([s.serverCpuUs, s.redisCpuUs, s.wrkCpuUs], [45, 10, 16]);
});

test('CPU ceiling: hello server + wrk over omniserve server + Redis + wrk; undefined without the figures', () => {
  const hello = summary({ serverCpuUs: 16, wrkCpuUs: 14 });
  assert.equal(cpuCeiling(hello, summary({ serverCpuUs: 41, redisCpuUs: 9, wrkCpuUs: 10 })), 0.5);
  // Without Redis (features in the body) the ceiling counts the server and wrk alone.
  assert.equal(cpuCeiling(hello, summary({ serverCpuUs: 46, wrkCpuUs: 14 })), 0.5);
  assert.equal(cpuCeiling(summary({ serverCpuUs: 16 }), summary({ serverCpuUs: 41, wrkCpuUs: 10 })), undefined);
  assert.equal(cpuCeiling(undefined, summary({ serverCpuUs: 41, wrkCpuUs: 10 })), undefined);
});
