/**
 * A pool of batch worker threads, one unit per worker at a time. Workers boot (modules,
 * model, parquet-wasm) as soon as the pool starts, before the run's settings are known, so
 * booting overlaps the main thread's planning. A worker that dies fails the unit it held
 * (reported; --resume retries it) and is replaced by a fresh one, so the other units keep
 * every core; a unit is never retried within the run (one that kills a worker would kill
 * the next), and after `maxReplacements` deaths dead workers stay dead.
 * @module
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import * as Comlink from 'comlink';
import type { UnitExecutor } from '../../src/batch/run.ts';
import type { UnitResult, UnitSettings } from '../../src/batch/unit.ts';
import type { WorkUnit } from '../../src/batch/plan.ts';
import { statsOf } from '../../src/batch/stats.ts';
import type { BatchWorkerApi } from './batch-worker.node.ts';
import { nodeEndpoint } from './worker-pool.ts';

const ENTRY = new URL('./batch-worker.node.ts', import.meta.url);

/** Where the workers load the model from. */
export interface BatchModelSpec {
  readonly path: string;
  readonly config?: unknown;
  readonly backend?: string;
}

interface Slot { worker: Worker; api: Comlink.Remote<BatchWorkerApi>; dead?: string; died: Promise<string>; ready: Promise<void> }

/** A started pool: `executor(settings)` once the run is known, `close()` in any case. */
export interface BatchPool {
  readonly size: number;
  /** Resolves when every worker has its model loaded; rejects when one failed to. */
  readonly ready: Promise<void>;
  executor(settings: UnitSettings): Promise<UnitExecutor & { close(): Promise<void> }>;
  /** Workers started to replace dead ones. */
  readonly replaced: () => number;
  /** The worker threads now in the slots (for tests and operators). */
  readonly threads: () => readonly Worker[];
  close(): Promise<void>;
}

/** Starts `size` workers (default: one per core), each loading the model now. */
export function startBatchPool(model: BatchModelSpec, size = availableParallelism(), opts: { maxReplacements?: number; unitsPerWorker?: number } = {}): BatchPool {
  const n = Math.max(1, size);
  // Units given to one worker at once (default 1: measured, 2 overlapped I/O with scoring
  // no faster on 2 busy cores, for about 120 MiB more memory).
  const lanes = Math.max(1, opts.unitsPerWorker ?? 1);
  const maxReplacements = opts.maxReplacements ?? n * 4;
  let replaced = 0;
  let closed = false;
  let settings: UnitSettings | undefined;
  const spawnSlot = (): Slot => {
    const worker = startWorker();
    let error = '';
    worker.on('error', (e) => { error ||= e.message; });
    const slot = {
      worker, api: Comlink.wrap<BatchWorkerApi>(nodeEndpoint(worker)),
      died: new Promise<string>((res) => worker.on('exit', (code) => { slot.dead = `batch worker exited with code ${code}${error ? `: ${error}` : ''}`; res(slot.dead); })),
    } as Slot;
    slot.ready = Promise.race([slot.api.init(model), slot.died.then((d) => Promise.reject(new Error(d)))]);
    slot.ready.catch(() => {});
    return slot;
  };
  const slots: Slot[] = Array.from({ length: n }, spawnSlot);
  const ready = Promise.all(slots.map((s) => s.ready)).then(() => {});
  ready.catch(() => {});
  const close = async () => {
    closed = true;
    // A worker is terminated only once its init settled: terminating one while
    // onnxruntime-node initialises in it aborts the whole process (a Napi::Error thrown
    // through the teardown; seen when a run ended early, e.g. refused without --resume).
    await Promise.all(slots.map(async (s) => {
      await Promise.race([s.ready.catch(() => {}), new Promise((r) => setTimeout(r, 30_000).unref())]);
      await s.worker.terminate();
    }));
  };
  return {
    size: n,
    ready,
    replaced: () => replaced,
    threads: () => slots.map((s) => s.worker),
    close,
    async executor(s: UnitSettings) {
      settings = s;
      try {
        await ready;
        await Promise.all(slots.map((slot) => Promise.race([slot.api.configure(s), slot.died.then((d) => Promise.reject(new Error(d)))])));
      } catch (e) {
        await close();
        throw e;
      }
      const idle: number[] = [];
      for (let l = 0; l < lanes; l++) idle.push(...slots.keys());
      const waiting: ((i: number) => void)[] = [];
      const release = (i: number) => { const w = waiting.shift(); if (w) w(i); else idle.push(i); };
      // A dead worker's slot gets a fresh worker (booted, configured) unless the pool gave up;
      // the slot's other lanes wait for the same replacement.
      const replacing = new Map<Slot, Promise<boolean>>();
      const replace = (i: number, dead: Slot): Promise<boolean> => {
        let p = replacing.get(dead);
        if (p) return p;
        p = (async () => {
          if (closed || replaced >= maxReplacements || slots[i] !== dead) return false;
          replaced++;
          const fresh = spawnSlot();
          slots[i] = fresh;
          try {
            await fresh.ready;
            await Promise.race([fresh.api.configure(settings!), fresh.died.then((d) => Promise.reject(new Error(d)))]);
            return true;
          } catch {
            return false;
          }
        })();
        replacing.set(dead, p);
        return p;
      };
      return {
        capacity: slots.length * lanes,
        async run(unit: WorkUnit): Promise<UnitResult> {
          const i = idle.pop() ?? await new Promise<number>((res) => waiting.push(res));
          const slot = slots[i]!;
          const failed = (message: string): UnitResult => ({
            id: unit.id, file: unit.file, rowStart: unit.rowStart, rowEnd: unit.rowEnd, rows: 0, outputs: [], stats: statsOf(new Float64Array(0)),
            error: { code: 'WORKER_DIED', message: `${unit.file} rows ${unit.rowStart}..${unit.rowEnd}: ${message}` },
          });
          // A slot that stays dead answers every unit it gets with its death (the run ends failed; --resume retries).
          if (slot.dead) { release(i); return failed(slot.dead); }
          const r = await Promise.race([slot.api.run(unit), slot.died.then(failed)]);
          if (slot.dead) await replace(i, slot);
          release(i);
          return r;
        },
        close,
      };
    },
  };
}

/** Starts a pool and hands it the run's settings. */
export async function createBatchPool(model: BatchModelSpec, settings: UnitSettings, size = availableParallelism()): Promise<UnitExecutor & { close(): Promise<void> }> {
  return startBatchPool(model, size).executor(settings);
}

/**
 * Plain JavaScript packages the worker needs, loaded before tsx is registered: through
 * tsx's loader hooks each of Arrow's ~150 modules costs a round trip to the hooks thread
 * (measured: a pool of 2 workers ready in 0.85-1.0 s instead of 1.2-1.6 s).
 */
const PRELOAD = ['apache-arrow/Arrow.dom', 'hyparquet', 'parquet-wasm/esm', 'comlink'];

let bundled: string | null | undefined;

/**
 * Node: the worker entry, the project's TypeScript it imports and the JavaScript packages,
 * bundled by esbuild (when installed: it is a dev dependency) into plain ES modules under
 * `node_modules/.cache/omniserve/`; onnxruntime stays an import, resolved from there as from
 * the project. A thread then loads a handful of JavaScript files instead of registering tsx
 * and transforming ~40 modules through its hooks (measured: 0.4 s less CPU per thread at
 * start), and instead of ~150 Arrow modules through the ESM loader (10 M-row benchmark:
 * first unit 2.3 -> 1.8 s after the spawn). A build takes ~0.3 s; it is skipped while the
 * files the last one read are unchanged (batch-worker.index.json). null when esbuild is
 * missing or fails (threads use tsx).
 */
function workerBundle(): string | null {
  if (bundled !== undefined) return bundled;
  bundled = null;
  try {
    const require = createRequire(import.meta.url);
    const esbuild = require('esbuild') as typeof import('esbuild');
    const entry = fileURLToPath(ENTRY);
    const root = fileURLToPath(new URL('../../', import.meta.url));
    // OMNISERVE_BUNDLE_CACHE: another cache directory (tests); inside the project, so the
    // bundle's imports of onnxruntime still resolve.
    const cache = process.env['OMNISERVE_BUNDLE_CACHE'] ?? join(root, 'node_modules/.cache/omniserve/');
    const options = {
      // Paths in the output (comments) and the metafile are relative to the project, not to
      // the cwd: the same sources give the same bundle from any directory.
      absWorkingDir: root,
      entryPoints: [entry], bundle: true, splitting: true, format: 'esm', platform: 'node', target: 'node20',
      // Packages are bundled too (Arrow alone is ~150 modules for the ESM loader), except the
      // native binding and what the worker only imports lazily on other hosts.
      external: ['onnxruntime-node', 'onnxruntime-web', 'onnxruntime-common'],
      // CommonJS packages (ioredis) require() Node's built-ins: give the ES module a require.
      banner: { js: "import { createRequire as __omniserveRequire } from 'node:module'; const require = __omniserveRequire(import.meta.url);" },
      outdir: '/', outExtension: { '.js': '.mjs' }, write: false, logLevel: 'silent', charset: 'utf8', metafile: true,
    } satisfies import('esbuild').BuildOptions;
    // The last build's inputs with their sizes and times: when none changed, its bundle is
    // used without building (the build is ~0.3 s on the main thread, before any worker starts).
    const key = `${esbuild.version} ${JSON.stringify(options)}`;
    const index = join(cache, 'batch-worker.index.json');
    const last = readIndex(index);
    if (last && last.key === key && existsSync(join(cache, last.dir, 'batch-worker.node.mjs')) && unchanged(last.inputs)) {
      return (bundled = pathToFileURL(join(cache, last.dir, 'batch-worker.node.mjs')).href);
    }
    const out = esbuild.buildSync(options);
    const hash = createHash('sha256');
    for (const f of out.outputFiles) hash.update(f.path).update(f.contents);
    // Content-addressed: processes started together, or from other checkouts, never clash.
    const name = `batch-worker-${hash.digest('hex').slice(0, 16)}`;
    const dir = join(cache, name);
    const main = join(dir, 'batch-worker.node.mjs');
    if (!existsSync(main)) {
      const tmp = `${dir}.tmp-${process.pid}`;
      mkdirSync(tmp, { recursive: true });
      for (const f of out.outputFiles) writeFileSync(join(tmp, basename(f.path)), f.contents);
      try { renameSync(tmp, dir); } catch { rmSync(tmp, { recursive: true, force: true }); }
      // Bundles of older sources go after a day (a process started from one may still load its chunks meanwhile).
      for (const old of readdirSync(cache)) {
        const p = join(cache, old);
        if (old.startsWith('batch-worker-') && old !== name && !old.endsWith('.json') && Date.now() - statSync(p).mtimeMs > 86_400_000) rmSync(p, { recursive: true, force: true });
      }
    }
    if (existsSync(main)) {
      bundled = pathToFileURL(main).href;
      const inputs: Record<string, [number, number]> = {};
      for (const f of Object.keys(out.metafile.inputs)) {
        const path = resolve(root, f);
        const st = statSync(path, { throwIfNoEntry: false });
        if (st) inputs[path] = [st.size, st.mtimeMs];
      }
      const tmp = `${index}.tmp-${process.pid}`;
      writeFileSync(tmp, JSON.stringify({ key, dir: name, inputs }));
      renameSync(tmp, index);
    }
  } catch {
    // No esbuild here, or it failed: tsx in each thread.
  }
  return bundled;
}

/** What the last build read: its options, its directory, and its inputs' sizes and modification times. */
interface BundleIndex {
  readonly key: string;
  readonly dir: string;
  readonly inputs: Readonly<Record<string, readonly [number, number]>>;
}

function readIndex(path: string): BundleIndex | undefined {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as BundleIndex;
    return typeof v.key === 'string' && typeof v.dir === 'string' && v.inputs && typeof v.inputs === 'object' ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Whether every file still has the size and modification time it had at the build. */
function unchanged(inputs: BundleIndex['inputs']): boolean {
  const files = Object.entries(inputs);
  if (files.length === 0) return false;
  for (const [path, [size, mtime]] of files) {
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st || st.size !== size || st.mtimeMs !== mtime) return false;
  }
  return true;
}

/** The module batch worker threads run on this host: the bundle (Node with esbuild), else the TypeScript entry. */
export function batchWorkerEntry(): string {
  const v = process.versions as Record<string, string | undefined>;
  return (!v['bun'] && !v['deno'] && workerBundle()) || ENTRY.href;
}

/** Bun and Deno run the TypeScript entry as is; Node runs the bundle, or preloads the JavaScript packages and registers tsx in the thread. */
function startWorker(): Worker {
  const v = process.versions as Record<string, string | undefined>;
  if (v['bun'] || v['deno']) return new Worker(ENTRY);
  const bundle = workerBundle();
  if (bundle) return new Worker(new URL(bundle));
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const preload = PRELOAD.map((p) => `import(${JSON.stringify(import.meta.resolve(p))})`).join(', ');
  return new Worker(`Promise.all([${preload}]).then(() => import(${tsx})).then((tsx) => { tsx.register(); return import(${JSON.stringify(ENTRY.href)}); });`, { eval: true });
}
