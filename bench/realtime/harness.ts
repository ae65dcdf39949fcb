/**
 * What the realtime and heavy parts of bench/realtime share: the scratch directory for
 * configs and bodies, the smoke request that proves a server answers correctly before it is
 * measured, and one measured wrk run with omniserve's /metrics around it.
 * @module
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import process from 'node:process';
import { fmtMs } from '../core/format.ts';
import { scrapeMetrics, statsBetween } from './server-metrics.ts';
import { ROOT, type RunningServer } from './servers.ts';
import type { WrkRun } from './types.ts';
import { runWrk, wrkProblems, type WrkOptions } from './wrk.ts';

/** Scratch space (git-ignored): configs, request bodies, profiles. */
export const WORK = join(ROOT, '.tmp', 'bench', 'realtime');
mkdirSync(WORK, { recursive: true });

/** A path relative to the repository root (where every command runs). */
export const rel = (p: string) => relative(ROOT, p);
/** Progress goes to stderr; stdout stays free. */
export const log = (line: string) => process.stderr.write(`${line}\n`);
/** Seconds since `t0` (a `performance.now()`), to one decimal. */
export const secondsSince = (t0: number) => Math.round((performance.now() - t0) / 100) / 10;
export const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** A path as an omniserve.json in WORK names it (omniserve resolves them against the config's directory). */
export const fromConfig = (abs: string) => relative(WORK, abs);

/** Writes an omniserve.json; returns its path relative to the repository root (servers run from there). */
export function writeConfig(name: string, config: unknown): string {
  const path = join(WORK, `${name}.json`);
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`);
  return rel(path);
}

/** POSTs once and checks the answer, so a broken server fails loudly before wrk measures it. */
export async function smoke(url: string, body: string | Uint8Array, check: (status: number, json: unknown) => string | undefined,
  headers: Readonly<Record<string, string>> = { 'content-type': 'application/json' }): Promise<void> {
  const res = await fetch(url, { method: 'POST', headers, body: body as BodyInit });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  const why = check(res.status, json);
  if (why) throw new Error(`smoke request to ${url}: ${why}: ${res.status} ${text.slice(0, 300)}`);
}

const TICK_S = 0.01; // USER_HZ: /proc times are in 1/100 s on Linux

/** The fields of a /proc stat file after the ")" that ends the command name: field 3 (state) first. */
function statFields(path: string): string[] {
  const text = readFileSync(path, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/**
 * CPU seconds (user + system) used so far by `pid` and every live process below it (the
 * `--workers` supervisor's children), from /proc. Undefined where /proc is missing.
 */
export function cpuSeconds(pid: number): number | undefined {
  const stat = new Map<number, { ppid: number; ticks: number }>();
  try {
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        // Fields after the command name: state ppid ... utime(14) stime(15).
        const f = statFields(`/proc/${name}/stat`);
        stat.set(Number(name), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
      } catch { /* exited meanwhile */ }
    }
  } catch {
    return undefined;
  }
  if (!stat.has(pid)) return undefined;
  let ticks = 0;
  const todo = [pid];
  while (todo.length) {
    const p = todo.pop()!;
    ticks += stat.get(p)?.ticks ?? 0;
    for (const [child, s] of stat) if (s.ppid === p) todo.push(child);
  }
  return ticks * TICK_S;
}

/**
 * CPU seconds of this process's children that have exited and been waited for (cutime +
 * cstime in /proc/self/stat): around one wrk run, wrk's own CPU (servers and Redis are
 * still running, so nothing else is reaped meanwhile). Undefined where /proc is missing.
 */
export function reapedChildCpuSeconds(): number | undefined {
  try {
    const f = statFields('/proc/self/stat'); // ... cutime(16) cstime(17)
    return (Number(f[13]) + Number(f[14])) * TICK_S;
  } catch {
    return undefined;
  }
}

/**
 * One measured wrk run against a running server, with omniserve's /metrics over it when
 * `metrics`, and CPU per request of the server (and of Redis, given its pid): unlike req/s
 * on a shared 2-core machine, CPU per request barely moves when other work takes cores.
 */
export async function wrkRun(server: RunningServer, variant: string, round: number, startSeconds: number, warmupRps: number,
  opts: WrkOptions, metrics: boolean, redisPid?: number): Promise<WrkRun> {
  const before = metrics ? await scrapeMetrics(server.url) : undefined;
  const cpu0 = [cpuSeconds(server.pid), redisPid === undefined ? undefined : cpuSeconds(redisPid), reapedChildCpuSeconds()];
  const m = await runWrk(opts);
  const cpu1 = [cpuSeconds(server.pid), redisPid === undefined ? undefined : cpuSeconds(redisPid), reapedChildCpuSeconds()];
  const perRequestUs = (i: number) => (cpu0[i] === undefined || cpu1[i] === undefined || m.result.requests === 0
    ? undefined : ((cpu1[i]! - cpu0[i]!) * 1e6) / m.result.requests);
  const serverUs = perRequestUs(0);
  const redisUs = perRequestUs(1);
  const wrkUs = perRequestUs(2);
  const stats = before ? statsBetween(before, await scrapeMetrics(server.url)) : undefined;
  const problems = wrkProblems(m.result);
  if (server.process.hasExited()) problems.push(`the server exited during the run: ${server.process.outputTail().slice(-300)}`);
  return {
    variant, round, server: server.argv, startSeconds,
    wrk: ['wrk', ...m.args.map((a) => (isAbsolute(a) && a.startsWith(ROOT) ? rel(a) : a))].join(' '),
    warmupRequestsPerSec: warmupRps, result: m.result, raw: m.raw, problems, ...(stats ? { stats } : {}),
    ...(serverUs !== undefined ? {
      cpu: {
        serverUsPerRequest: serverUs,
        ...(redisUs !== undefined ? { redisUsPerRequest: redisUs } : {}),
        ...(wrkUs !== undefined ? { wrkUsPerRequest: wrkUs } : {}),
      },
    } : {}),
  };
}

/** The server metrics of a run, for the progress log. */
export const statsText = (r: WrkRun) => r.stats
  ? `; ${r.stats.meanBatchRows.toFixed(1)} rows/batch, run ${fmtMs(r.stats.meanInferenceMs)} ms` +
    (Number.isNaN(r.stats.meanFeatureStoreMs) ? '' : `, Redis ${fmtMs(r.stats.meanFeatureStoreMs)} ms`) + `, in server ${fmtMs(r.stats.meanRequestMs)} ms`
  : '';
