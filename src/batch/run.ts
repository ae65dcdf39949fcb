/**
 * A batch run: read the manifest, plan units from the inputs' footers, check the columns
 * before any scoring, hand units to an executor (a worker pool, or the main thread), record
 * each finished unit in the manifest, and commit. Host-neutral: files and workers are injected.
 * @module
 */
import { parquetMetadataAsync } from 'hyparquet';
import { Errors, messageOf } from '../errors.ts';
import type { BatchConfig } from './config.ts';
import { manifestName, parseManifest, recordFailure, recordUnit, runWatermark, type Manifest } from './manifest.ts';
import { checkColumns, describeInput, fileShard, planUnits, rowGroupMax, shardUnits, type InputFile, type Shard, type WorkUnit } from './plan.ts';
import { emptyStats } from './stats.ts';
import type { BatchFiles, UnitResult, UnitSettings } from './unit.ts';

/** What the run needs from its host beyond unit file access. */
export interface BatchHost extends BatchFiles {
  /** A text file's contents, or undefined when it does not exist. */
  readText(path: string): Promise<string | undefined>;
  /** The names in a directory ([] when it does not exist). */
  list(dir: string): Promise<string[]>;
  /**
   * Removes, under `dir` (recursively), the temporary files `writeAtomic` left for final
   * names that `final` accepts (their writer was killed mid-write); returns their paths.
   */
  removeTemp(dir: string, final: (name: string) => boolean): Promise<string[]>;
}

/** Runs units; `capacity` of them at once. */
export interface UnitExecutor {
  readonly capacity: number;
  run(unit: WorkUnit): Promise<UnitResult>;
}

/** Progress events (the CLI draws a bar or logs them). */
export type BatchEvent =
  | { event: 'plan'; runId: string; units: number; todo: number; rows: number; resumed: boolean; failedInputs: number }
  | { event: 'unit'; id: string; rows: number; ok: boolean; error?: string; warning?: string; done: number; todo: number }
  | { event: 'input_failed'; file: string; message: string };

/** A run's request. */
export interface BatchRunOptions {
  readonly inputs: readonly string[];
  readonly outDir: string;
  readonly config: BatchConfig;
  readonly model: { name: string; version: string; features: readonly string[] };
  readonly partitionBy?: string;
  readonly resume?: boolean;
  readonly incremental?: { readonly column: string };
  /** Only this shard's units (`--shard i/n`); its manifest is `manifestName(shard)`. */
  readonly shard?: Shard;
  readonly newRunId: () => string;
  readonly now?: () => Date;
  readonly onEvent?: (e: BatchEvent) => void;
  /**
   * Units are written by other processes that may outlive this one (coordinated mode):
   * their temporary files are removed only once every unit is answered, not when resuming.
   */
  readonly remoteWriters?: boolean;
  /** Builds the executor once the run's settings are known (run id, watermark). */
  readonly executor: (settings: UnitSettings) => Promise<UnitExecutor & { close(): Promise<void> }>;
}

/** How a run ended. `nothing-new`: an incremental run found no rows above the watermark. */
export interface BatchSummary {
  readonly status: 'committed' | 'failed' | 'nothing-new' | 'already-done';
  readonly manifest?: Manifest;
  readonly message: string;
}

/** A run the output directory refuses (an unfinished run without --resume, ...). */
export class BatchUsageError extends Error {}

/** Runs (or resumes) a batch job. Column errors throw before any unit is scored. */
export async function runBatch(o: BatchRunOptions, host: BatchHost): Promise<BatchSummary> {
  const now = o.now ?? (() => new Date());
  await checkLayout(host, o.outDir, o.shard);
  const manifestPath = `${o.outDir}/${manifestName(o.shard)}`;
  const prev = parseManifest(await host.readText(manifestPath), manifestPath);
  const resuming = prev?.status !== undefined && prev.status !== 'committed' && (o.resume ?? false);
  if (prev && prev.status !== 'committed' && !o.resume) {
    throw new BatchUsageError(`${o.outDir} holds an unfinished run ${prev.runId} (${prev.status}); add --resume to finish it`);
  }
  if (prev?.status === 'committed' && !o.incremental) {
    if (o.resume) return { status: 'already-done', manifest: prev, message: `run ${prev.runId} is already committed; nothing to resume` };
    throw new BatchUsageError(`${o.outDir} already holds the committed run ${prev.runId}; choose another --output, or use --incremental`);
  }
  if (prev && (prev.partitionBy ?? undefined) !== o.partitionBy) {
    throw new BatchUsageError(`${o.outDir} is partitioned by ${prev.partitionBy ?? 'nothing'}; this run asks for ${o.partitionBy ?? 'nothing'}`);
  }
  const above = resuming ? prev!.incremental?.from : o.incremental ? prev?.watermark : undefined;

  // Plan: every footer is read and every schema checked before any scoring starts.
  const inputs: InputFile[] = [];
  const failedInputs: Manifest['failedInputs'] = [];
  const units: WorkUnit[] = [];
  const enrich = o.config.enrich;
  const enriched = new Set(enrich?.fields ?? []);
  const needed = [...o.model.features.filter((f) => !enriched.has(f)), ...(enrich ? [enrich.keyColumn] : []),
    ...(o.partitionBy ? [o.partitionBy] : []), ...(o.incremental ? [o.incremental.column] : [])];
  for (const path of o.inputs) {
    // Sharded incremental runs deal whole files: each shard keeps its own watermark, so a
    // row must stay with one shard in every run (a growing file's units move, its path does not).
    if (o.shard && o.incremental && fileShard(path, o.shard.count) !== o.shard.index) continue;
    let metadata;
    try {
      const file = await host.open(path);
      metadata = await parquetMetadataAsync(file);
      inputs.push(describeInput(path, file.byteLength, metadata));
    } catch (e) {
      const message = `${path}: not a readable Parquet file (${messageOf(e)})`;
      failedInputs.push({ file: path, message });
      o.onEvent?.({ event: 'input_failed', file: path, message });
      continue;
    }
    checkColumns(inputs[inputs.length - 1]!, needed);
    const clash = enrich?.fields.filter((f) => inputs[inputs.length - 1]!.columns.includes(f)) ?? [];
    if (clash.length) throw new BatchUsageError(`${path}: enrich.fields ${clash.join(', ')} ${clash.length > 1 ? 'are' : 'is'} already input column(s); drop them from enrich.fields or from the input`);
    const col = o.incremental?.column;
    const skip = col && above !== undefined ? (rg: Parameters<typeof rowGroupMax>[0]) => { const m = rowGroupMax(rg, col); return m !== undefined && m <= above; } : undefined;
    const planned = planUnits(path, metadata, o.config.unitRows, skip);
    units.push(...(o.shard && !o.incremental ? shardUnits(path, planned, o.shard) : planned));
  }
  if (o.incremental && !resuming && units.length === 0 && failedInputs.length === 0) {
    return { status: 'nothing-new', ...(prev ? { manifest: prev } : {}), message: `nothing new above the watermark ${above ?? '(none)'} of ${o.incremental.column}` };
  }

  const m: Manifest = resuming ? { ...prev!, inputs, failedInputs, unitsPlanned: units.length, status: 'running' } : {
    version: 1, runId: o.newRunId(), status: 'running', startedAt: now().toISOString(),
    model: { name: o.model.name, version: o.model.version }, ...(o.partitionBy ? { partitionBy: o.partitionBy } : {}),
    ...(o.shard ? { shard: { index: o.shard.index, count: o.shard.count } } : {}),
    inputs, failedInputs, unitsPlanned: units.length, units: {}, failedUnits: [], rows: 0, stats: { ...emptyStats(), partitions: {} },
    ...(o.incremental ? { incremental: { column: o.incremental.column, ...(above === undefined ? {} : { from: above }) } } : {}),
    ...(prev?.watermark === undefined ? {} : { watermark: prev.watermark }), history: prev ? historyOf(prev) : [],
  };
  // Units of this run not recorded as done; a unit's file without an entry gets rewritten.
  const todo = units.filter((u) => !m.units[u.id]);
  m.failedUnits = [];
  // A crashed run left temporary files (hidden, never in the manifest): its own writers
  // are gone, so they go now; units written by --worker processes may be live, so theirs
  // go when every unit is answered.
  const manifestFile = manifestName(o.shard);
  const ours = (name: string) => name.startsWith(`part-${m.runId.slice(0, 8)}-`);
  const swept = await host.removeTemp(o.outDir, (name) => name === manifestFile || (resuming && !o.remoteWriters && ours(name)));
  await save(host, manifestPath, m);
  const saver = manifestSaver(() => save(host, manifestPath, m));
  o.onEvent?.({ event: 'plan', runId: m.runId, units: units.length, todo: todo.length, rows: todo.reduce((n, u) => n + u.rowEnd - u.rowStart, 0), resumed: resuming, failedInputs: failedInputs.length });

  const settings: UnitSettings = {
    runId: m.runId, timestamp: m.startedAt, outDir: o.outDir, batchSize: o.config.batchSize, validation: o.config.validation,
    compression: o.config.compression, ...(o.partitionBy ? { partitionBy: o.partitionBy } : {}), ...(enrich ? { enrich } : {}),
    ...(o.incremental ? { watermark: { column: o.incremental.column, ...(above === undefined ? {} : { above }) } } : {}),
  };
  if (todo.length) {
    const exec = await o.executor(settings);
    try {
      let next = 0;
      let done = 0;
      const lane = async () => {
        while (next < todo.length) {
          const r = await exec.run(todo[next++]!);
          if (r.error) recordFailure(m, r); else recordUnit(m, r);
          done++;
          saver.changed();
          o.onEvent?.({ event: 'unit', id: r.id, rows: r.rows, ok: !r.error, ...(r.error ? { error: r.error.message } : {}), ...(r.warning ? { warning: r.warning } : {}), done, todo: todo.length });
        }
      };
      await Promise.all(Array.from({ length: Math.max(1, exec.capacity) }, lane));
    } finally {
      await exec.close();
    }
  }
  await saver.flush();
  swept.push(...(await host.removeTemp(o.outDir, ours)));
  if (swept.length) m.removedTemp = (m.removedTemp ?? 0) + swept.length;
  const failed = m.failedUnits.length + m.failedInputs.length;
  m.status = failed ? 'failed' : 'committed';
  m.finishedAt = now().toISOString();
  if (m.status === 'committed' && m.incremental) {
    const w = runWatermark(m);
    if (w !== undefined) m.watermark = m.incremental.to = w;
  }
  await save(host, manifestPath, m);
  const message = failed ? `run ${m.runId}: ${m.rows} rows written; ${m.failedUnits.length} unit(s) and ${m.failedInputs.length} input(s) failed (see ${manifestPath})`
    : m.incremental && m.rows === 0 ? `run ${m.runId}: nothing new above the watermark ${above ?? '(none)'} of ${m.incremental.column}`
    : `run ${m.runId}: ${m.rows} rows in ${Object.keys(m.units).length} units committed`;
  return { status: m.status === 'committed' ? 'committed' : 'failed', manifest: m, message };
}

/**
 * One output directory holds one layout: unsharded (`_manifest.json`) or `n` shards
 * (`_manifest.shard-i-of-n.json`). Another layout would score rows again (other shards'
 * deal, other watermarks), so it is refused.
 */
async function checkLayout(host: BatchHost, outDir: string, shard: Shard | undefined): Promise<void> {
  const mine = manifestName(shard);
  const other = (await host.list(outDir)).filter((n) => /^_manifest(\.shard-\d+-of-\d+)?\.json$/.test(n)).filter((n) =>
    shard ? !new RegExp(`^_manifest\\.shard-\\d+-of-${shard.count}\\.json$`).test(n) : n !== mine);
  if (other.length) {
    throw Errors.SHARD_LAYOUT_MISMATCH(`${outDir} holds ${other.sort().join(', ')}; this run ${shard ? `is shard ${shard.index}/${shard.count}` : 'is not sharded'}. ` +
      'Shards share the output\'s files and a sharded incremental output keeps one watermark per shard, so an output keeps the layout it started with; use another --output',
      { outDir, found: other, expected: shard ? `_manifest.shard-*-of-${shard.count}.json` : mine });
  }
}

function historyOf(prev: Manifest): Manifest['history'] {
  if (prev.status !== 'committed') return prev.history;
  return [...prev.history, {
    runId: prev.runId, startedAt: prev.startedAt, finishedAt: prev.finishedAt ?? prev.startedAt, rows: prev.rows,
    ...(prev.incremental?.from === undefined ? {} : { watermarkFrom: prev.incremental.from }),
    ...(prev.incremental?.to === undefined ? {} : { watermarkTo: prev.incremental.to }),
  }];
}

/**
 * Manifest writes after units: one at a time, each a complete file of the latest state
 * (changes made while one is written are coalesced into the next), and after a write that
 * took T ms the next starts no sooner than 3T later, so a run of thousands of units does not
 * spend its main thread rewriting a manifest that grows with every unit (each write is
 * O(units)). A crash loses at most the units finished since the last write: they are
 * scored again on --resume.
 */
export function manifestSaver(write: () => Promise<void>, now = () => performance.now()): { changed(): void; flush(): Promise<void> } {
  let dirty = false;
  let running: Promise<void> | undefined;
  let notBefore = 0;
  let failure: unknown;
  const loop = async () => {
    while (dirty) {
      const wait = notBefore - now();
      if (wait > 0) await new Promise((res) => setTimeout(res, wait));
      dirty = false;
      const t = now();
      try {
        await write();
      } catch (e) {
        failure ??= e;
      }
      notBefore = now() + 3 * (now() - t);
    }
    running = undefined;
  };
  return {
    changed() {
      dirty = true;
      running ??= loop();
    },
    async flush() {
      while (running) await running;
      if (failure) throw failure;
    },
  };
}

function save(host: BatchHost, path: string, m: Manifest): Promise<void> {
  return host.writeAtomic(path, new TextEncoder().encode(JSON.stringify(m, null, 2) + '\n'));
}
