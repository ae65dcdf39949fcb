/**
 * The realtime part of bench/realtime on one host: the server variants (hello-world,
 * omniserve with default batching, with maxDelayMs 2, and the --diagnose ones) take turns,
 * each freshly started, smoke-tested, warmed up and measured with wrk at 64 connections.
 * @module
 */
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import type { RedisServer } from '../../test/support/redis-server.ts';
import { fmtMs, fmtRate } from '../core/format.ts';
import { WORK, fromConfig, log, messageOf, secondsSince, smoke, statsText, writeConfig, wrkRun } from './harness.ts';
import { fixtureRows } from './seed-redis.ts';
import { ROOT, startServer, type Host, type ServerSpec } from './servers.ts';
import { summarizeRuns } from './stats.ts';
import type { RealtimeHost, Variant, VariantSummary, WrkRun } from './types.ts';
import { runWrk } from './wrk.ts';

/** wrk's load: the issue's 64 connections, over 2 threads (one per core). */
export const THREADS = 2;
export const CONNECTIONS = 64;

/** How long and how often each variant is measured. */
export interface RealtimePlan {
  readonly durationS: number;
  readonly warmupS: number;
  readonly rounds: number;
  readonly variants: readonly Variant[];
}

/** The variants to run: the baseline and omniserve, plus maxDelayMs 2 and the diagnostics when asked. */
export function realtimeVariants(o: { delay2: boolean; diagnose: boolean; workers?: number; clientCache?: boolean; floor?: boolean }): Variant[] {
  return [
    { id: 'hello', title: 'Hono hello-world', kind: 'hello' },
    ...(o.diagnose ? [{ id: 'hello-stream', title: 'hello-world, body read via getReader() as omniserve does', kind: 'hello', helloBody: 'stream' } as const] : []),
    ...(o.diagnose ? [{ id: 'hello-seedreply', title: 'hello-world answering with a /predict-sized reply (30 feature names)', kind: 'hello', helloReply: 'seed' } as const] : []),
    { id: 'omniserve', title: 'omniserve (maxDelayMs 0, default)', kind: 'omniserve' },
    ...(o.floor ?? true ? [{ id: 'floor', title: 'hand-written floor (floor.ts: the same job in one Hono route, nothing else)', kind: 'floor' } as const] : []),
    ...(o.delay2 ? [{ id: 'omniserve-delay2', title: 'omniserve (maxDelayMs 2)', kind: 'omniserve', batching: { maxDelayMs: 2 } } as const] : []),
    ...(o.workers && o.workers > 1 ? [{ id: `omniserve-workers${o.workers}`, title: `omniserve (--workers ${o.workers})`, kind: 'omniserve', workers: o.workers } as const] : []),
    ...(o.clientCache ? [{ id: 'omniserve-clientcache', title: 'omniserve, Redis clientCache (hashes held in memory, invalidated by Redis)', kind: 'omniserve', clientCache: true } as const] : []),
    ...(o.diagnose ? [{ id: 'omniserve-features', title: 'omniserve, features in the body (no Redis)', kind: 'omniserve', featuresInBody: true } as const] : []),
  ];
}

/** The smoke request of a variant: hello echoes the id; omniserve scores with all 30 features found. */
const realtimeCheck = (v: Variant) => (url: string) => smoke(url, v.featuresInBody ? JSON.stringify({ features: fixtureRows()[42] }) : '{"user_id":42,"item_id":7}', (status, json) => {
  if (status !== 200) return 'not 200';
  const j = json as { echo?: unknown; probability?: unknown; features_used?: unknown[] };
  if (v.kind === 'hello') return j.echo === 42 ? undefined : 'no echo of user_id';
  if (typeof j.probability !== 'number') return 'no probability';
  // All 30 features must be found: from Redis, 20 in the user hash and 10 in the item hash.
  return j.features_used?.length === 30 ? undefined : `${j.features_used?.length} features used, expected 30`;
});

/** Measures every variant on `host`, `plan.rounds` times in turn. */
export async function realtimeHost(host: Host, redis: RedisServer, plan: RealtimePlan): Promise<RealtimeHost> {
  const { variants, rounds } = plan;
  const t0 = performance.now();
  const runs: WrkRun[] = [];
  try {
    const specs = new Map<string, ServerSpec>(variants.map((v) => [v.id, v.kind === 'hello' ? { kind: 'hello', args: [...(v.helloBody ? ['--body', v.helloBody] : []), ...(v.helloReply ? ['--reply', v.helloReply] : [])] } : v.kind === 'floor' ? { kind: 'floor', redis: redis.url } : {
      kind: 'omniserve',
      config: writeConfig(`breast-cancer-${v.id}`, {
        models: [{ path: fromConfig(join(ROOT, 'test', 'fixtures', 'models', 'breast-cancer.onnx')) }],
        featureStore: v.featuresInBody ? { kind: 'none' } : { kind: 'redis', url: redis.url, ...(v.clientCache ? { clientCache: {} } : {}) },
        cache: { kind: 'none' },
        batching: v.batching ?? {},
        ...(v.workers ? { server: { workers: v.workers } } : {}),
      }),
      ...(v.workers ? { workers: v.workers } : {}),
    }]));
    // One fixed row of the fixture: the same model work as a Redis-assembled one.
    const featuresBody = join(WORK, 'features-body.json');
    writeFileSync(featuresBody, JSON.stringify({ features: fixtureRows()[42] }));
    for (let round = 1; round <= rounds; round++) {
      // Interleaved (A B C A B C): a burst of load from elsewhere hits every variant alike.
      for (const v of variants) {
        const s0 = performance.now();
        const server = await startServer(host, specs.get(v.id)!);
        const startSeconds = secondsSince(s0);
        let run: WrkRun;
        try {
          const url = `${server.url}/predict`;
          await realtimeCheck(v)(url);
          const opts = { url, threads: THREADS, connections: CONNECTIONS, ...(v.featuresInBody ? { bodyFile: featuresBody } : {}) };
          const warm = await runWrk({ ...opts, seconds: plan.warmupS });
          run = await wrkRun(server, v.id, round, startSeconds, warm.result.requestsPerSec, { ...opts, seconds: plan.durationS }, v.kind === 'omniserve', v.kind === 'hello' ? undefined : redis.process.pid);
        } finally {
          await server.stop();
        }
        runs.push(run);
        const r = run.result;
        log(`${host} ${v.id.padEnd(17)} round ${round}: ${fmtRate(r.requestsPerSec).padStart(7)} req/s, p50 ${fmtMs(r.latencyMs.p50)} ms, ` +
          `p99 ${fmtMs(r.latencyMs.p99)} ms (warm-up ${fmtRate(run.warmupRequestsPerSec)} req/s${statsText(run)})` +
          `${run.problems.length ? `  !! ${run.problems.join('; ')}` : ''}`);
      }
    }
    return finishRealtime(host, variants, 'ok', undefined, runs, t0);
  } catch (e) {
    log(`${host}: realtime failed: ${messageOf(e)}`);
    return finishRealtime(host, variants, 'failed', messageOf(e), runs, t0);
  }
}

function finishRealtime(host: Host, variants: readonly Variant[], status: 'ok' | 'failed', reason: string | undefined, runs: WrkRun[], t0: number): RealtimeHost {
  const summary: Record<string, VariantSummary> = {};
  for (const v of variants) {
    const mine = runs.filter((r) => r.variant === v.id);
    if (mine.length) summary[v.id] = summarizeRuns(mine);
  }
  const hello = summary['hello']?.requestsPerSec;
  const ratio: Record<string, number> = {};
  for (const [id, s] of Object.entries(summary)) if (id !== 'hello' && hello) ratio[id] = s.requestsPerSec / hello;
  return { host, status, ...(reason ? { reason } : {}), seconds: secondsSince(t0), runs, summary, ratio };
}
