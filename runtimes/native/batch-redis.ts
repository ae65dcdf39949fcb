/**
 * Coordinated batch runs over Redis Streams: the coordinator (`omniserve batch ... --redis
 * URL`) plans the run and writes the manifest as usual, but its units go on the stream
 * `{p}batch:units`, read by the consumer group `omniserve-batch` of any number of
 * `omniserve batch --worker --redis URL` processes on any machine (inputs, outputs and
 * the model on a path every machine sees).
 *
 * - `{p}batch:run:{runId}` holds what a worker needs for the run: the unit settings and the
 *   model (path, config, backend). Workers need no config of their own.
 * - A worker claims abandoned units first (XAUTOCLAIM past `claimIdleMs`: a worker killed
 *   mid-unit loses nothing), then new ones (XREADGROUP). While it scores a unit it resets the
 *   entry's idle time (XCLAIM JUSTID) every third of `claimIdleMs`, so a slow unit is not
 *   taken from a live worker.
 * - Units are queued by one Lua script that adds the unit id to `{p}batch:run:{runId}:queued`
 *   and XADDs only when it was not there (nor done): a coordinator resumed after a crash
 *   queues only the units its first life never queued, so no unit is scored twice.
 * - A finished unit is one Lua script: XACK and XDEL, then, while the run's key exists,
 *   HSETNX the result in `{p}batch:run:{runId}:done` (the first result of a unit wins)
 *   and XADD it to `{p}batch:run:{runId}:results` only then. Before scoring, one script
 *   checks that the run's key exists and reads the entry's delivery count (XPENDING): a
 *   stray entry of a run that committed is dropped, not scored, and brings no key back. A unit scored twice (reclaimed from a worker that was only slow) writes
 *   the same files under the same names with the same content, and is recorded once.
 * - A unit delivered more than `maxDeliveries` times (it kills workers) fails for good.
 * - The coordinator reads the results stream from the start (a resumed coordinator sees
 *   the results of units finished while it was gone), records each unit in the manifest,
 *   commits when all are in, then deletes the run's keys (a resumed coordinator that finds
 *   every unit recorded deletes them too: `forgetCoordinatedRun`).
 * @module
 */
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { messageOf } from '../../src/errors.ts';
import type { UnitExecutor } from '../../src/batch/run.ts';
import type { UnitResult, UnitSettings } from '../../src/batch/unit.ts';
import type { WorkUnit } from '../../src/batch/plan.ts';
import { statsOf } from '../../src/batch/stats.ts';
import { quit, redisClientOptions } from './redis-store.ts';
import type { BatchModelSpec } from './batch-pool.ts';

/** Where the coordination lives and how patient it is. */
export interface BatchRedisOptions {
  readonly url: string;
  /** Key prefix (default `omniserve:`). */
  readonly prefix?: string;
  /** A unit held this long by a worker that stopped answering is taken by another (default 30 s). */
  readonly claimIdleMs?: number;
  /** Deliveries of one unit before it fails for good (default 5). */
  readonly maxDeliveries?: number;
}

/** The run as workers see it. */
export interface CoordinatedRun {
  readonly settings: UnitSettings;
  readonly model: BatchModelSpec;
}

const GROUP = 'omniserve-batch';
// A result counts only while its run is live (a run that committed has no keys left, and
// a late duplicate must not bring them back).
const FINISH = `
redis.call('XACK', KEYS[3], ARGV[3], ARGV[4])
redis.call('XDEL', KEYS[3], ARGV[4])
if redis.call('EXISTS', KEYS[4]) == 0 then return -1 end
local first = redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
if first == 1 then redis.call('XADD', KEYS[2], '*', 'unit', ARGV[1], 'result', ARGV[2]) end
return first`;
// How many times the stream delivered this entry (Redis counts XREADGROUP and XAUTOCLAIM;
// heartbeats with XCLAIM JUSTID do not), or -1 when its run is over.
const START = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local p = redis.call('XPENDING', KEYS[2], ARGV[2], ARGV[1], ARGV[1], 1)
if p[1] == nil then return 1 end
return p[1][4]`;
// A unit goes on the stream once per run: a resumed coordinator does not queue again a
// unit that is already queued (or done) from before its crash.
const ENQUEUE = `
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('XADD', KEYS[3], '*', 'run', ARGV[2], 'unit', ARGV[3])
return 1`;

function keys(prefix = 'omniserve:') {
  return {
    units: `${prefix}batch:units`,
    run: (id: string) => `${prefix}batch:run:${id}`,
    done: (id: string) => `${prefix}batch:run:${id}:done`,
    results: (id: string) => `${prefix}batch:run:${id}:results`,
    queued: (id: string) => `${prefix}batch:run:${id}:queued`,
  };
}

function client(url: string, commandTimeoutMs = 5_000): Redis {
  const r = new Redis(url, redisClientOptions({ connectTimeoutMs: 2_000, commandTimeoutMs }));
  r.on('error', () => { /* surfaced by the command that fails */ });
  return r;
}

async function ensureGroup(r: Redis, stream: string): Promise<void> {
  try {
    await r.xgroup('CREATE', stream, GROUP, '0', 'MKSTREAM');
  } catch (e) {
    if (!/BUSYGROUP/.test(messageOf(e))) throw e;
  }
}

function fieldsOf(flat: readonly string[]): Record<string, string> {
  const o: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) o[flat[i]!] = flat[i + 1]!;
  return o;
}

/**
 * The coordinator's executor: `run(unit)` puts the unit on the stream and resolves with
 * the result a worker recorded. All units of the run are queued at once.
 */
export async function createRedisCoordinator(o: BatchRedisOptions & { readonly log?: (line: string) => void; readonly quietMs?: number }, run: CoordinatedRun): Promise<UnitExecutor & { close(): Promise<void> }> {
  const k = keys(o.prefix);
  const runId = run.settings.runId;
  const r = client(o.url);
  const reader = client(o.url, 10_000);
  r.defineCommand('omniserveBatchEnqueue', { numberOfKeys: 3, lua: ENQUEUE });
  await r.connect();
  await reader.connect();
  await ensureGroup(r, k.units);
  await r.set(k.run(runId), JSON.stringify(run));
  const waiting = new Map<string, (res: UnitResult) => void>();
  const early = new Map<string, UnitResult>();
  let closed = false;
  let failure: unknown;
  let lastResult = Date.now();
  // No result for a while with units queued: say so (no worker running, or all stuck).
  const quietMs = o.quietMs ?? 60_000;
  const watch = setInterval(() => {
    if (waiting.size > 0 && Date.now() - lastResult >= quietMs) {
      o.log?.(`run ${runId}: ${waiting.size} unit(s) queued on ${k.units}, no result for ${Math.round((Date.now() - lastResult) / 1000)} s; are \`omniserve batch --worker\` processes running against this Redis?`);
    }
  }, Math.max(1_000, Math.floor(quietMs / 2)));
  // One reader from the start of the results stream: results of units finished while a
  // crashed coordinator was gone are in there too.
  const reading = (async () => {
    let last = '0-0';
    while (!closed) {
      let reply: [string, [string, string[]][]][] | null;
      try {
        reply = (await reader.xread('COUNT', 1000, 'BLOCK', 500, 'STREAMS', k.results(runId), last)) as typeof reply;
      } catch (e) {
        if (closed) return;
        failure = e;
        await new Promise((res) => setTimeout(res, 500));
        continue;
      }
      for (const [eid, flat] of reply?.[0]?.[1] ?? []) {
        last = eid;
        lastResult = Date.now();
        const f = fieldsOf(flat);
        const res = JSON.parse(f['result']!) as UnitResult;
        const w = waiting.get(f['unit']!);
        if (w) { waiting.delete(f['unit']!); w(res); } else early.set(f['unit']!, res);
      }
    }
  })();
  let pending = 0;
  return {
    capacity: 4096,
    async run(unit: WorkUnit): Promise<UnitResult> {
      const got = early.get(unit.id);
      if (got) { early.delete(unit.id); return got; }
      pending++;
      const p = new Promise<UnitResult>((res) => waiting.set(unit.id, res));
      await (r as Redis & { omniserveBatchEnqueue(...a: string[]): Promise<number> })
        .omniserveBatchEnqueue(k.queued(runId), k.done(runId), k.units, unit.id, runId, JSON.stringify(unit));
      try {
        return await p;
      } finally {
        pending--;
      }
    },
    async close() {
      closed = true;
      clearInterval(watch);
      await reading;
      // Every unit answered: the run's keys go (a stray duplicate entry finds no run and is dropped).
      if (pending === 0 && waiting.size === 0) await r.del(...runKeys(k, runId));
      reader.disconnect();
      await quit(r);
      void failure;
    },
  };
}

function runKeys(k: ReturnType<typeof keys>, runId: string): string[] {
  return [k.run(runId), k.done(runId), k.results(runId), k.queued(runId)];
}

/**
 * Deletes a finished run's keys (idempotent). The coordinator does it when its last unit
 * is answered; a resumed coordinator with nothing left to queue calls it directly.
 */
export async function forgetCoordinatedRun(o: BatchRedisOptions, runId: string): Promise<void> {
  const r = client(o.url);
  try {
    await r.connect();
    await r.del(...runKeys(keys(o.prefix), runId));
  } finally {
    await quit(r);
  }
}

/** What a worker process does with a run's units: typically a worker-thread pool per run. */
export type RunExecutorFactory = (run: CoordinatedRun) => Promise<UnitExecutor & { close(): Promise<void> }>;

/** A running `omniserve batch --worker`. */
export interface BatchWorker {
  /** Units finished by this process. */
  readonly finished: () => number;
  /** Stops claiming, finishes the units held, closes. */
  stop(): Promise<void>;
  /** Resolves when stopped. */
  readonly done: Promise<void>;
}

/** Starts claiming units, `lanes` at once (match the executor's capacity). */
export function startBatchWorker(o: BatchRedisOptions & { readonly consumer?: string; readonly lanes?: number; readonly log?: (line: string) => void }, makeExecutor: RunExecutorFactory): BatchWorker {
  const k = keys(o.prefix);
  const idleMs = o.claimIdleMs ?? 30_000;
  const maxDeliveries = o.maxDeliveries ?? 5;
  const consumer = o.consumer ?? `${hostname()}-${process.pid}`;
  const r = client(o.url);
  r.defineCommand('omniserveBatchFinish', { numberOfKeys: 4, lua: FINISH });
  r.defineCommand('omniserveBatchStart', { numberOfKeys: 2, lua: START });
  const log = o.log ?? (() => {});
  let stopping = false;
  let finished = 0;
  const runs = new Map<string, Promise<{ run: CoordinatedRun; exec: UnitExecutor & { close(): Promise<void> }; busy: number }>>();
  const blocking: Redis[] = [];

  const forRun = (runId: string) => {
    let p = runs.get(runId);
    if (!p) {
      p = (async () => {
        const text = await r.get(k.run(runId));
        if (!text) throw Object.assign(new Error(`run ${runId} is over`), { over: true });
        const run = JSON.parse(text) as CoordinatedRun;
        // A new run: executors of runs this process no longer works on go.
        for (const [id, q] of runs) if (id !== runId) void q.then(async (x) => { if (x.busy === 0) { runs.delete(id); await x.exec.close(); } }, () => runs.delete(id));
        log(`run ${runId}: scoring its units`);
        return { run, exec: await makeExecutor(run), busy: 0 };
      })();
      runs.set(runId, p);
      p.catch(() => runs.delete(runId));
    }
    return p;
  };

  const claim = async (conn: Redis): Promise<[string, Record<string, string>] | undefined> => {
    const [, got] = (await r.xautoclaim(k.units, GROUP, consumer, idleMs, '0-0', 'COUNT', 1)) as [string, [string, string[] | null][]];
    for (const [eid, flat] of got) if (flat) return [eid, fieldsOf(flat)];
    const reply = (await conn.xreadgroup('GROUP', GROUP, consumer, 'COUNT', 1, 'BLOCK', 1000, 'STREAMS', k.units, '>')) as [string, [string, string[]][]][] | null;
    const e = reply?.[0]?.[1]?.[0];
    return e ? [e[0], fieldsOf(e[1])] : undefined;
  };

  const finish = async (eid: string, runId: string, unitId: string, result: UnitResult) => {
    await (r as Redis & { omniserveBatchFinish(...a: string[]): Promise<number> })
      .omniserveBatchFinish(k.done(runId), k.results(runId), k.units, k.run(runId), unitId, JSON.stringify(result), GROUP, eid);
  };

  const lane = async (conn: Redis) => {
    while (!stopping) {
      let entry: [string, Record<string, string>] | undefined;
      try {
        entry = await claim(conn);
      } catch (e) {
        if (stopping) return;
        if (/NOGROUP/.test(messageOf(e))) await ensureGroup(r, k.units).catch(() => {});
        else log(`redis: ${messageOf(e)}`);
        await new Promise((res) => setTimeout(res, 500));
        continue;
      }
      if (!entry) continue;
      const [eid, f] = entry;
      const runId = f['run']!;
      const unit = JSON.parse(f['unit']!) as WorkUnit;
      // A stray entry of a run that is over (committed since) is dropped, not scored.
      const drop = async () => {
        await r.multi().xack(k.units, GROUP, eid).xdel(k.units, eid).exec();
        const q = runs.get(runId);
        if (q) void q.then(async (x) => { if (x.busy === 0 && runs.get(runId) === q) { runs.delete(runId); await x.exec.close(); } }, () => {});
      };
      let ctx;
      try {
        ctx = await forRun(runId);
      } catch (e) {
        if ((e as { over?: boolean }).over) { await drop(); continue; }
        log(`run ${runId}: ${messageOf(e)}`);
        await new Promise((res) => setTimeout(res, 1000));
        continue;
      }
      // Only while the run exists (this process may have cached a run that ended).
      const attempts = await (r as Redis & { omniserveBatchStart(...a: string[]): Promise<number> }).omniserveBatchStart(k.run(runId), k.units, eid, GROUP);
      if (attempts < 0) { await drop(); continue; }
      let result: UnitResult;
      if (attempts > maxDeliveries) {
        result = { id: unit.id, file: unit.file, rowStart: unit.rowStart, rowEnd: unit.rowEnd, rows: 0, outputs: [], stats: statsOf(new Float64Array(0)),
          error: { code: 'WORKER_DIED', message: `${unit.file} rows ${unit.rowStart}..${unit.rowEnd}: delivered ${attempts} times, its workers never finished it (the delivery limit is ${maxDeliveries})` } };
      } else {
        ctx.busy++;
        // Keep the entry ours while we work on it.
        const beat = setInterval(() => { void r.xclaim(k.units, GROUP, consumer, 0, eid, 'JUSTID').catch(() => {}); }, Math.max(100, Math.floor(idleMs / 3)));
        try {
          result = await ctx.exec.run(unit);
        } finally {
          clearInterval(beat);
          ctx.busy--;
        }
      }
      await finish(eid, runId, unit.id, result);
      finished++;
    }
  };

  const done = (async () => {
    await r.connect();
    await ensureGroup(r, k.units);
    // One lane (and one blocking connection) per unit scored at once.
    for (let i = 0; i < Math.max(1, o.lanes ?? 1); i++) blocking.push(client(o.url, 10_000));
    await Promise.all(blocking.map((c) => lane(c)));
    for (const q of runs.values()) await q.then((x) => x.exec.close(), () => {});
    for (const c of blocking) c.disconnect();
    await quit(r);
  })();
  return {
    finished: () => finished,
    async stop() { stopping = true; await done; },
    done,
  };
}
