/**
 * bench/realtime: `omniserve serve` under wrk load on Node, Bun and Deno, against a Hono
 * hello-world POST endpoint on the same host measured in the same run; then a heavy MLP,
 * served vs raw in-process. Writes bench/results/realtime.json and realtime.md.
 *
 *   node --import tsx bench/realtime/run.ts [--quick] [--hosts node,bun,deno] [--duration 10]
 *       [--rounds 2] [--warmup 2] [--heavy-hosts node,bun,deno|none] [--no-delay2] [--no-client-cache] [--no-floor] [--diagnose]
 *       [--workers 2]  (also measure `omniserve serve --workers N`: the multi-core scaling; 1 = skip)
 *
 * Realtime part: one Redis (test/support) seeded with 10,000 users and 1,000 items; per host,
 * `rounds` times in turn: hello-world, omniserve (default batching, maxDelayMs 0), the
 * hand-written floor (floor.ts: the same job with nothing else), omniserve (maxDelayMs 2), …,
 * each a fresh server: a smoke request, `warmup` s of wrk, then `wrk -t2 -c64 -d<duration>s
 * --latency -s post.lua` (random user and item ids). Medians over rounds; ratio =
 * omniserve req/s ÷ hello req/s, and ÷ the floor's. Heavy part: heavy-model.py writes the MLP; per host, a
 * heavy-raw.ts process (raw batch-64 rows/s in-process) and an omniserve server hold the
 * model side by side and take turns: raw slice, wrk 64-row requests (8 connections), wrk
 * 1-row requests (64 connections, coalesced by the batcher), twice, then raw once more;
 * ratio = served rows/s ÷ raw rows/s over those slices.
 *
 * `--diagnose` splits omniserve's gap to hello-world instead (no heavy part unless
 * --heavy-hosts is given; writes bench/results/realtime.diagnose.{json,md}): hello-world
 * reading the body through its web stream as omniserve does, and omniserve with the features
 * in the body instead of Redis, beside the usual variants.
 * @module
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { startRedis } from '../../test/support/redis-server.ts';
import { describeMachine, loadToolVersions, sourceRevision } from '../core/machine.ts';
import { log, rel, secondsSince } from './harness.ts';
import { heavyHost, makeHeavyModel, type HeavyPlan } from './heavy.ts';
import { CONNECTIONS, THREADS, realtimeHost, realtimeVariants, type RealtimePlan } from './realtime.ts';
import { renderMarkdown } from './report.ts';
import { ITEMS, USERS, seedRedis } from './seed-redis.ts';
import { HOSTS, ROOT, type Host } from './servers.ts';
import { GOALS, type HeavyHost, type RealtimeHost, type RealtimeResults } from './types.ts';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    hosts: { type: 'string' },
    'heavy-hosts': { type: 'string' },
    duration: { type: 'string' },
    rounds: { type: 'string' },
    warmup: { type: 'string', default: '2' },
    'no-delay2': { type: 'boolean', default: false },
    'no-client-cache': { type: 'boolean', default: false },
    'no-floor': { type: 'boolean', default: false },
    workers: { type: 'string', default: '2' },
    diagnose: { type: 'boolean', default: false },
  },
});
const diagnose = args.diagnose;
const hostList = (s: string | undefined, dflt: readonly Host[]): Host[] => {
  if (s === undefined) return [...dflt];
  if (s === 'none') return [];
  const hs = s.split(',').map((h) => h.trim()).filter(Boolean);
  for (const h of hs) if (!HOSTS.includes(h as Host)) throw new Error(`unknown host "${h}": expected ${HOSTS.join(', ')}`);
  return hs as Host[];
};
const hosts = hostList(args.hosts, HOSTS);
const heavyHosts = hostList(args['heavy-hosts'], diagnose ? [] : args.quick ? hosts.slice(0, 1) : hosts);
const duration = Number(args.duration ?? (args.quick ? 3 : 10));
const rounds = Number(args.rounds ?? (args.quick ? 1 : 2));
const warmup = Number(args.warmup);
// wrk takes whole seconds only (`-d1.5s` is a usage error).
for (const [k, v] of Object.entries({ duration, rounds, warmup })) if (!(v > 0) || !Number.isInteger(v)) throw new Error(`--${k}: expected a positive integer`);

const plan: RealtimePlan = {
  durationS: duration, warmupS: warmup, rounds, variants: realtimeVariants({ delay2: !args['no-delay2'], diagnose, workers: Number(args.workers), clientCache: !args['no-client-cache'], floor: !args['no-floor'] }),
};
/** Each served heavy case gets `duration` s in all, over 2 rounds. */
const HEAVY_ROUNDS = 2;
const heavyPlan: HeavyPlan = {
  rounds: HEAVY_ROUNDS, servedSeconds: Math.max(1, Math.round(duration / HEAVY_ROUNDS)), rawSeconds: args.quick ? 0.5 : 1.5, warmupS: warmup,
};

const loadBefore = os.loadavg();
const revision = sourceRevision(ROOT);
const started = new Date();
const t0 = performance.now();
log(`bench/realtime: hosts ${hosts.join(',')}, heavy ${heavyHosts.join(',') || 'none'}; ${rounds} round(s) of ${plan.variants.length} servers, ` +
  `${warmup} s warm-up + ${duration} s each`);

const redis = await startRedis();
let results: RealtimeResults;
try {
  const seed = await seedRedis(redis.url, { users: USERS, items: ITEMS });
  log(`seeded ${seed.users} users (${seed.userFields} fields) and ${seed.items} items (${seed.itemFields} fields) in ${seed.seconds.toFixed(1)} s`);
  const realtime: RealtimeHost[] = [];
  for (const h of hosts) realtime.push(await realtimeHost(h, redis, plan));

  let heavyModel = { model: '', params: 0, bytes: 0 };
  const heavy: HeavyHost[] = [];
  if (heavyHosts.length) {
    heavyModel = await makeHeavyModel();
    log(`heavy model: ${heavyModel.model}, ${(heavyModel.params / 1e6).toFixed(1)} M parameters, ${(heavyModel.bytes / 2 ** 20).toFixed(0)} MiB`);
    for (const h of heavyHosts) heavy.push(await heavyHost(h, heavyModel.model, heavyPlan));
  }

  const machine = describeMachine(ROOT, loadBefore);
  results = {
    benchmark: 'realtime',
    date: started.toISOString(),
    command: ['node', ...process.execArgv, rel(process.argv[1]!), ...process.argv.slice(2)].join(' '),
    revision,
    machine: {
      ...machine,
      ...loadToolVersions(),
    },
    settings: {
      durationS: duration, warmupS: warmup, rounds, threads: THREADS, connections: CONNECTIONS, users: USERS, items: ITEMS, variants: plan.variants,
      heavy: { ...heavyModel, rounds: heavyPlan.rounds, servedSeconds: heavyPlan.servedSeconds, rawSeconds: heavyPlan.rawSeconds },
    },
    goals: GOALS,
    seed,
    realtime,
    heavy,
    seconds: secondsSince(t0),
  };
} finally {
  await redis.stop();
}

const out = join(ROOT, 'bench', 'results');
mkdirSync(out, { recursive: true });
const base = diagnose ? 'realtime.diagnose' : 'realtime';
writeFileSync(join(out, `${base}.json`), `${JSON.stringify(results, null, 2)}\n`);
const md = renderMarkdown(results);
writeFileSync(join(out, `${base}.md`), md);
log(`\n${md}\nwrote bench/results/${base}.json and ${base}.md in ${results.seconds} s`);
