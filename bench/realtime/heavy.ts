/**
 * The heavy-model part of bench/realtime on one host: a heavy-raw.ts process (in-process raw
 * rows/s at batch 64) and `omniserve serve` hold the generated MLP side by side and take
 * turns: raw slice, wrk with 64-row requests, wrk with 1-row requests (both JSON
 * `{"instances"}` to /v1/models/heavy-mlp/predict), wrk with 64-row Open Inference Protocol
 * requests carrying the tensor as binary data, `rounds` times, then a last raw slice. Served
 * rows/s ÷ raw rows/s, each pooled over its slices.
 * @module
 */
import { execFile } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import process from 'node:process';
import { spawnProcess, type ManagedProcess } from '../../test/support/process.ts';
import { fmtMs, fmtRate, fmtRatio } from '../core/format.ts';
import { WORK, fromConfig, log, messageOf, secondsSince, smoke, statsText, writeConfig, wrkRun } from './harness.ts';
import { HEAVY_BATCH, heavyBody, heavyOipBinary, heavyRows } from './heavy-inputs.ts';
import { ROOT, executable, startServer, tsArgv, type Host, type RunningServer } from './servers.ts';
import { median } from './stats.ts';
import type { HeavyHost, HeavyRawReport, HeavyServed, WrkRun } from './types.ts';
import { runWrk } from './wrk.ts';

/** Served cases: rows per request and wrk connections (a 64-row run takes 20-150 ms here, so 8 keep the queue full). */
export const HEAVY_CASES = [
  { id: 'batch64', rows: HEAVY_BATCH, connections: 8, oip: false },
  { id: 'single', rows: 1, connections: 64, oip: false },
  // The same rows with no JSON numbers to parse: what serving costs beside the model itself.
  { id: 'binary64', rows: HEAVY_BATCH, connections: 8, oip: true },
] as const;

/** How the heavy part takes turns. */
export interface HeavyPlan {
  /** Rounds of (raw, 64-row, 1-row) slices. */
  readonly rounds: number;
  /** Seconds of one served slice (whole seconds: wrk takes no fractions). */
  readonly servedSeconds: number;
  /** Seconds per path of one raw slice. */
  readonly rawSeconds: number;
  readonly warmupS: number;
}

/** A heavy-raw.ts process in `--stdin` mode: the model stays loaded between slices. */
async function startRaw(host: Host, model: string): Promise<{ measure(seconds: number): Promise<HeavyRawReport>; proc: ManagedProcess }> {
  const argv = tsArgv(host, join('bench', 'realtime', 'heavy-raw.ts'), ['--model', model, '--stdin']);
  const proc = await spawnProcess(executable(argv[0]!), argv.slice(1), { cwd: ROOT, stdin: true, name: `${host}:heavy-raw` });
  try {
    await proc.lines.waitFor((l) => l.includes('"ready"'), 60_000);
  } catch (e) {
    await proc.stop({ signal: 'SIGKILL' });
    throw new Error(`${argv.join(' ')} did not start: ${messageOf(e)}\n${proc.outputTail()}`);
  }
  return {
    proc,
    async measure(seconds) {
      proc.writeLine(`measure ${seconds}`);
      const line = await proc.lines.waitFor((l) => l.startsWith('{'), 120_000 + seconds * 10_000);
      const r = JSON.parse(line) as HeavyRawReport | { event: string; message: string };
      if ('event' in r) throw new Error(`heavy-raw.ts: ${r.message}`);
      return r;
    },
  };
}

/** rows ÷ wall seconds over several measurements. */
const pooledRowsPerSec = (ms: readonly { rows: number; wallMs: number }[]) =>
  ms.reduce((n, m) => n + m.rows, 0) / (ms.reduce((t, m) => t + m.wallMs, 0) / 1000);

/** Measures the heavy model on `host`: raw in-process and served, alternating. */
export async function heavyHost(host: Host, model: string, heavyPlan: HeavyPlan): Promise<HeavyHost> {
  const t0 = performance.now();
  const raws: HeavyRawReport[] = [];
  const runs = new Map<string, WrkRun[]>(HEAVY_CASES.map((c) => [c.id, []]));
  let raw: Awaited<ReturnType<typeof startRaw>> | undefined;
  let server: RunningServer | undefined;
  const rawSlice = async () => {
    const r = await raw!.measure(heavyPlan.rawSeconds);
    raws.push(r);
    log(`${host} heavy raw slice ${raws.length} (${r.backend}, batch ${r.batch}): ${fmtRate(r.raw.rowsPerSec)} rows/s, ` +
      `p50 ${fmtMs(r.raw.latencyMs.p50)} ms; infer ${fmtRate(r.infer.rowsPerSec)}, predict ${fmtRate(r.predict.rowsPerSec)} rows/s`);
  };
  try {
    // Both hold the model at once (2 × ~150 MB) and take turns; whichever waits is idle.
    raw = await startRaw(host, model);
    const config = writeConfig('heavy-mlp', { models: [{ path: fromConfig(resolve(ROOT, model)) }], cache: { kind: 'none' } });
    const s0 = performance.now();
    server = await startServer(host, { kind: 'omniserve', config });
    const startSeconds = secondsSince(s0);
    const predictUrl = `${server.url}/v1/models/heavy-mlp/predict`;
    const inferUrl = `${server.url}/v2/models/heavy-mlp/infer`;
    const cases = HEAVY_CASES.map((c) => {
      const rows = heavyRows(c.rows);
      const bin = c.oip ? heavyOipBinary(rows) : undefined;
      const body = bin ? bin.body : heavyBody(rows);
      const headers: Record<string, string> = bin
        ? { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(bin.headerLength) }
        : { 'Content-Type': 'application/json' };
      const bodyFile = join(WORK, `heavy-${c.id}.${bin ? 'bin' : 'json'}`);
      writeFileSync(bodyFile, body);
      // One wrk thread: the server needs the cores for the matrix multiplies. A 30 s timeout,
      // since a 64-row request waits behind the 7 others (several runs of 30-150 ms).
      return { ...c, body, headers, opts: { url: c.oip ? inferUrl : predictUrl, threads: 1, connections: c.connections, timeoutS: 30, bodyFile, headers } as const };
    });
    const warmRps = new Map<string, number>();
    for (const c of cases) {
      await smoke(c.opts.url, c.body, (status, json) => {
        if (status !== 200) return 'not 200';
        const n = c.oip
          ? (json as { outputs?: { shape?: number[] }[] }).outputs?.[0]?.shape?.[0]
          : (json as { predictions?: unknown[] }).predictions?.length;
        return n === c.rows ? undefined : 'wrong number of predictions';
      }, c.headers);
      warmRps.set(c.id, (await runWrk({ ...c.opts, seconds: heavyPlan.warmupS })).result.requestsPerSec);
    }
    await raw.measure(Math.min(0.5, heavyPlan.rawSeconds)); // warm-up, not kept
    for (let round = 1; round <= heavyPlan.rounds; round++) {
      await rawSlice();
      for (const c of cases) {
        const run = await wrkRun(server, `heavy-${c.id}`, round, startSeconds, warmRps.get(c.id)!, { ...c.opts, seconds: heavyPlan.servedSeconds }, true);
        runs.get(c.id)!.push(run);
        log(`${host} heavy served ${c.id} slice ${round}: ${fmtRate(run.result.requestsPerSec * c.rows)} rows/s, ` +
          `p50 ${fmtMs(run.result.latencyMs.p50)} ms, p99 ${fmtMs(run.result.latencyMs.p99)} ms${statsText(run)}` +
          `${run.problems.length ? `  !! ${run.problems.join('; ')}` : ''}`);
      }
    }
    await rawSlice();
    return finishHeavy(host, 'ok', undefined, raws, runs, t0);
  } catch (e) {
    log(`${host}: heavy model failed: ${messageOf(e)}`);
    return finishHeavy(host, 'failed', messageOf(e), raws, runs, t0);
  } finally {
    await server?.stop();
    raw?.proc.child.stdin?.end();
    await raw?.proc.stop({ graceMs: 5_000 });
  }
}

function finishHeavy(host: Host, status: 'ok' | 'failed', reason: string | undefined, raws: HeavyRawReport[], runs: Map<string, WrkRun[]>, t0: number): HeavyHost {
  const rawRowsPerSec = raws.length ? pooledRowsPerSec(raws.map((r) => r.raw)) : undefined;
  const served: Record<string, HeavyServed> = {};
  for (const c of HEAVY_CASES) {
    const rs = runs.get(c.id) ?? [];
    if (!rs.length) continue;
    const rowsPerSec = pooledRowsPerSec(rs.map((r) => ({ rows: r.result.requests * c.rows, wallMs: r.result.seconds * 1000 })));
    const batchRows = rs.reduce((n, r) => n + (r.stats ? r.stats.meanBatchRows * r.stats.batches : 0), 0);
    const batches = rs.reduce((n, r) => n + (r.stats?.batches ?? 0), 0);
    served[c.id] = {
      rowsPerRequest: c.rows, ...(c.oip ? { oip: true } : {}), connections: c.connections, rowsPerSec, ratio: rawRowsPerSec ? rowsPerSec / rawRowsPerSec : Number.NaN,
      p50Ms: median(rs.map((r) => r.result.latencyMs.p50)), p99Ms: median(rs.map((r) => r.result.latencyMs.p99)),
      meanBatchRows: batches ? batchRows / batches : Number.NaN,
      problems: rs.flatMap((r) => r.problems.map((p) => `slice ${r.round}: ${p}`)), runs: rs,
    };
    if (rawRowsPerSec) log(`${host} heavy ${c.id}: ${fmtRate(rowsPerSec)} rows/s = ${fmtRatio(served[c.id]!.ratio)} raw (${fmtRate(rawRowsPerSec)} rows/s)`);
  }
  return { host, status, ...(reason ? { reason } : {}), seconds: secondsSince(t0), ...(rawRowsPerSec ? { rawRowsPerSec } : {}), raw: raws, served };
}

/** Generates the heavy model (heavy-model.py); resolves with its path and size. */
export function makeHeavyModel(): Promise<{ model: string; params: number; bytes: number }> {
  return new Promise((resolveModel, reject) => {
    execFile(process.env.PYTHON ?? '/usr/bin/python3', [join('bench', 'realtime', 'heavy-model.py'), join('.tmp', 'bench')], { cwd: ROOT }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`heavy-model.py: ${err.message}\n${stderr}`));
        return;
      }
      const w = JSON.parse(stdout.trim().split('\n').pop()!) as { path: string; layers: number[] };
      const params = w.layers.slice(1).reduce((n, fanOut, i) => n + (w.layers[i]! + 1) * fanOut, 0);
      resolveModel({ model: w.path, params, bytes: statSync(resolve(ROOT, w.path)).size });
    });
  });
}
