/**
 * bench/async: async predictions (`POST /predict/async`, Redis Streams queue, `omniserve worker`
 * processes) measured from submit to completed, next to the realtime path (`POST /predict`
 * under wrk) of the same server in the same run. Node host. Writes bench/results/async.json
 * and async.md.
 *
 *   node --import tsx bench/async/run.ts [--jobs 5000] [--workers 1,2,4] [--in-flight 64]
 *       [--duration 5] [--warmup 2] [--no-backlog] [--quick]
 *
 * One Redis (test/support) seeded as bench/realtime seeds it (10,000 users, 1,000 items); one
 * `omniserve serve` with the breast-cancer fixture model, Redis features, cache off and
 * `queue: {kind: 'redis', inProcessWorker: false}`. Then, in order: a realtime wrk run
 * (2 threads, 64 connections, post.lua's random ids); per worker count N: start N
 * `omniserve worker` processes, submit `--jobs` jobs (`--in-flight` at once, random ids),
 * wait until the stream is empty, read every job back with GET /predict/{id}, stop the
 * workers (SIGTERM) and clear the queue; then the backlog run (all jobs submitted first,
 * N workers started after); then another realtime run. Each async figure is compared with the
 * mean of the realtime runs just before and after it.
 * @module
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { spawnProcess, type ManagedProcess } from '../../test/support/process.ts';
import { startRedis } from '../../test/support/redis-server.ts';
import { fmtMs, fmtRate, fmtRatio } from '../core/format.ts';
import { describeMachine, loadToolVersions, sourceRevision } from '../core/machine.ts';
import { percentile } from '../core/stats.ts';
import { fromConfig, log, messageOf, rel, secondsSince, smoke, statsText, writeConfig, wrkRun } from '../realtime/harness.ts';
import { CONNECTIONS, THREADS } from '../realtime/realtime.ts';
import { ITEMS, USERS, seedRedis } from '../realtime/seed-redis.ts';
import { ROOT, serverArgv, startServer, type RunningServer } from '../realtime/servers.ts';
import type { WrkRun } from '../realtime/types.ts';
import { runWrk } from '../realtime/wrk.ts';
import { clearQueue, randomBody, readJobs, submitJobs, waitDrained, type JobTimes } from './client.ts';
import { renderMarkdown } from './report.ts';
import type { AsyncResults, AsyncRun, Dist } from './types.ts';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    jobs: { type: 'string' },
    workers: { type: 'string', default: '1,2,4' },
    'in-flight': { type: 'string', default: '64' },
    duration: { type: 'string' },
    warmup: { type: 'string', default: '2' },
    'no-backlog': { type: 'boolean', default: false },
  },
});
const jobs = Number(args.jobs ?? (args.quick ? 1000 : 5000));
const workerCounts = args.workers.split(',').map((s) => Number(s.trim()));
const inFlight = Number(args['in-flight']);
const duration = Number(args.duration ?? (args.quick ? 3 : 5));
const warmup = Number(args.warmup);
const backlog = !args['no-backlog'];
for (const [k, v] of Object.entries({ jobs, inFlight, duration, warmup })) if (!(v > 0) || !Number.isInteger(v)) throw new Error(`--${k}: expected a positive integer`);
if (!workerCounts.every((n) => n > 0 && Number.isInteger(n))) throw new Error('--workers: expected positive integers, e.g. 1,2,4');

/** The queue's key prefix and stream (runtimes/native/redis-queue.ts defaults). */
const PREFIX = 'omniserve:';
const STREAM = `${PREFIX}jobs`;
/** What `omniserve worker` holds in flight (queue.workerConcurrency's default). */
const WORKER_CONCURRENCY = 256;
const DRAIN_TIMEOUT_MS = 300_000;
/** Jobs the live runs' fresh workers get before the measured ones. */
const WARMUP_JOBS = 500;

const dist = (xs: readonly number[]): Dist => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return {
    p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s[s.length - 1] ?? Number.NaN,
    mean: s.length ? s.reduce((a, b) => a + b, 0) / s.length : Number.NaN,
  };
};

const loadBefore = os.loadavg();
const revision = sourceRevision(ROOT);
const started = new Date();
const t0 = performance.now();
log(`bench/async: ${jobs} jobs per run, workers ${workerCounts.join(',')}, ${inFlight} submits in flight${backlog ? ', plus backlog runs' : ''}; ` +
  `realtime ${warmup} s warm-up + ${duration} s per run`);

const redis = await startRedis();
const rc = new Redis(redis.url);
let results: AsyncResults;
let server: RunningServer | undefined;
const workers: ManagedProcess[] = [];
try {
  const seed = await seedRedis(redis.url, { users: USERS, items: ITEMS });
  log(`seeded ${seed.users} users and ${seed.items} items in ${seed.seconds.toFixed(1)} s`);
  const configObj = {
    models: [{ path: fromConfig(join(ROOT, 'test', 'fixtures', 'models', 'breast-cancer.onnx')) }],
    featureStore: { kind: 'redis', url: redis.url },
    cache: { kind: 'none' },
    queue: { kind: 'redis', url: redis.url, inProcessWorker: false, workerConcurrency: WORKER_CONCURRENCY },
  };
  const config = writeConfig('async-breast-cancer', configObj);
  const workerArgv = ['node', join('bin', 'omniserve.mjs'), 'worker', '--config', config];

  server = await startServer('node', { kind: 'omniserve', config });
  const srv = server;
  await smoke(`${srv.url}/predict`, '{"user_id":42,"item_id":7}', (status, json) =>
    status === 200 && (json as { features_used?: unknown[] }).features_used?.length === 30 ? undefined : 'realtime smoke failed');
  const probe = await fetch(`${srv.url}/predict/async`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"user_id":1,"item_id":2}' });
  if (probe.status !== 202) throw new Error(`POST /predict/async: ${probe.status} ${await probe.text()}`);
  await probe.text();
  log(`server ${srv.url} (pid ${srv.pid}) answers /predict and /predict/async`);
  await clearQueue(rc, PREFIX);
  // The probe job waits in the stream for the first worker; drop it so every run starts empty.
  await rc.del(STREAM);

  const opts = { url: `${srv.url}/predict`, threads: THREADS, connections: CONNECTIONS };
  const warm = await runWrk({ ...opts, seconds: warmup });
  log(`realtime warm-up: ${fmtRate(warm.result.requestsPerSec)} req/s`);
  const realtime: WrkRun[] = [];
  const measureRealtime = async () => {
    const r = await wrkRun(srv, 'realtime', realtime.length + 1, 0, warm.result.requestsPerSec, { ...opts, seconds: duration }, true);
    realtime.push(r);
    log(`realtime ${realtime.length}: ${fmtRate(r.result.requestsPerSec)} req/s, p50 ${fmtMs(r.result.latencyMs.p50)} ms, p99 ${fmtMs(r.result.latencyMs.p99)} ms` +
      `${statsText(r)}${r.problems.length ? `  !! ${r.problems.join('; ')}` : ''}`);
  };

  const startWorkers = async (n: number) => {
    const s0 = performance.now();
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
    delete env['REDIS_URL'];
    const ps = await Promise.all(Array.from({ length: n }, async (_, k) => {
      const w = await spawnProcess(process.execPath, workerArgv.slice(1), { cwd: ROOT, env, name: `worker-${k}` });
      workers.push(w);
      try {
        await w.lines.waitFor((l) => l.includes('"event":"worker"'), 60_000);
      } catch (e) {
        throw new Error(`worker ${k} did not start: ${messageOf(e)}\n${w.outputTail()}`);
      }
      return w;
    }));
    return { ps, seconds: secondsSince(s0) };
  };
  const stopWorkers = async () => {
    const ps = workers.splice(0);
    await Promise.all(ps.map((w) => w.stop({ signal: 'SIGTERM', graceMs: 20_000 })));
  };

  const runs: AsyncRun[] = [];
  const asyncRun = async (mode: 'live' | 'backlog', n: number): Promise<AsyncRun> => {
    let workerStartSeconds = 0;
    if (mode === 'live') {
      workerStartSeconds = (await startWorkers(n)).seconds;
      // Warm-up, not counted: the fresh workers' JIT and connections, as realtime gets wrk warm-up.
      await submitJobs(srv.url, WARMUP_JOBS, inFlight, () => randomBody(USERS, ITEMS));
      await waitDrained(rc, STREAM, DRAIN_TIMEOUT_MS);
      await clearQueue(rc, PREFIX);
    }
    const sub = await submitJobs(srv.url, jobs, inFlight, () => randomBody(USERS, ITEMS));
    if (mode === 'backlog') {
      workerStartSeconds = (await startWorkers(n)).seconds;
    }
    await waitDrained(rc, STREAM, DRAIN_TIMEOUT_MS);
    // Retried jobs (none expected) go back to the stream before their record says pending.
    const read = await readJobs(srv.url, sub.ids, inFlight);
    await stopWorkers();
    const dead = await rc.xlen(`${PREFIX}jobs:dead`);
    await clearQueue(rc, PREFIX);

    let completed = 0;
    let failed = 0;
    let bad = 0;
    let redelivered = 0;
    let firstBad: string | undefined;
    const done: { i: number; j: JobTimes }[] = [];
    read.forEach((j, i) => {
      if (sub.ids[i] === undefined) return;
      if (!j) return;
      if (j.attempts > 1) redelivered++;
      if (j.status === 'completed' && j.probability !== undefined && j.probability >= 0 && j.probability <= 1) {
        completed++;
        done.push({ i, j });
      } else if (j.status === 'failed') {
        failed++;
        firstBad ??= `job ${i} failed: ${j.error ?? ''}`;
      } else {
        bad++;
        firstBad ??= `job ${i}: ${JSON.stringify(j)}`;
      }
    });
    if (dead > 0) firstBad ??= `${dead} dead-lettered`;
    const sentFirst = Math.min(...sub.sentAt);
    const ups = done.map((d) => d.j.updatedAt).sort((a, b) => a - b);
    let jobsPerSec: number;
    let seconds: number;
    if (mode === 'live') {
      seconds = ((ups[ups.length - 1] ?? sentFirst) - sentFirst) / 1000;
      jobsPerSec = seconds > 0 ? completed / seconds : 0;
    } else {
      const a = percentile(ups, 10);
      const b = percentile(ups, 90);
      const inside = ups.filter((t) => t > a && t <= b).length;
      seconds = (b - a) / 1000;
      jobsPerSec = seconds > 0 ? inside / seconds : 0;
    }
    const submitted = sub.ids.filter((x) => x !== undefined).length;
    return {
      mode, workers: n, jobs, workerStartSeconds,
      submitPerSec: submitted / (sub.submitMs / 1000), submitSeconds: sub.submitMs / 1000,
      refused: sub.refused, ...(sub.firstRefusal ? { firstRefusal: sub.firstRefusal } : {}),
      completed, failed, bad, ...(firstBad ? { firstBad } : {}), redelivered,
      jobsPerSec, seconds,
      queueLatencyMs: dist(done.map((d) => d.j.updatedAt - d.j.createdAt)),
      endToEndLatencyMs: dist(done.map((d) => d.j.updatedAt - sub.sentAt[d.i]!)),
    };
  };

  await measureRealtime();
  const pending: AsyncRun[] = [];
  for (const n of workerCounts) {
    for (const mode of backlog ? (['live', 'backlog'] as const) : (['live'] as const)) {
      const r = await asyncRun(mode, n);
      pending.push(r);
      log(`${mode.padEnd(7)} ${n} worker(s): ${fmtRate(r.jobsPerSec)} jobs/s over ${r.seconds.toFixed(1)} s; submit ${fmtRate(r.submitPerSec)}/s; ` +
        `queue latency p50 ${fmtMs(r.queueLatencyMs.p50)} p99 ${fmtMs(r.queueLatencyMs.p99)} ms; ${r.completed} completed, ${r.failed} failed, ${r.bad} bad, ` +
        `${r.refused} refused, ${r.redelivered} redelivered (workers started in ${r.workerStartSeconds} s)${r.firstBad ? `  !! ${r.firstBad}` : ''}`);
    }
    await measureRealtime();
    const around = (realtime[realtime.length - 2]!.result.requestsPerSec + realtime[realtime.length - 1]!.result.requestsPerSec) / 2;
    for (const r of pending.splice(0)) {
      runs.push({ ...r, realtimeReqPerSec: around, ratio: r.jobsPerSec / around });
      log(`  ${r.mode} ${n}: ${fmtRatio(r.jobsPerSec / around)} realtime (${fmtRate(around)} req/s)`);
    }
  }

  const machine = describeMachine(ROOT, loadBefore);
  results = {
    benchmark: 'async',
    date: started.toISOString(),
    command: ['node', ...process.execArgv, rel(process.argv[1]!), ...process.argv.slice(2)].join(' '),
    revision,
    machine: {
      ...machine,
      ...loadToolVersions(),
    },
    settings: {
      jobs, workers: workerCounts, inFlight, workerConcurrency: WORKER_CONCURRENCY, backlog, realtimeSeconds: duration, warmupSeconds: warmup,
      threads: THREADS, connections: CONNECTIONS, users: USERS, items: ITEMS,
      server: serverArgv('node', { kind: 'omniserve', config }), worker: workerArgv,
      config: JSON.parse(readFileSync(join(ROOT, config), 'utf8')),
    },
    seed,
    realtime,
    runs,
    seconds: secondsSince(t0),
  };
} finally {
  await Promise.all(workers.splice(0).map((w) => w.stop({ signal: 'SIGTERM', graceMs: 10_000 })));
  await server?.stop();
  rc.disconnect();
  await redis.stop();
}

const out = join(ROOT, 'bench', 'results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'async.json'), `${JSON.stringify(results, null, 2)}\n`);
const md = renderMarkdown(results);
writeFileSync(join(out, 'async.md'), md);
log(`\n${md}\nwrote bench/results/async.json and async.md in ${results.seconds} s`);
