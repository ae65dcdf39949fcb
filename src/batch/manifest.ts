/**
 * `DIR/_manifest.json`: the run, its inputs, the units done (with their files, row counts
 * and statistics), failures, and for incremental runs the committed watermark. A unit
 * counts as done only once it is in here, so resuming after a crash at any point
 * rewrites whatever was written but not recorded.
 * @module
 */
import type { InputFile } from './plan.ts';
import { emptyStats, mergeStats, type PredictionStats } from './stats.ts';
import type { UnitResult } from './unit.ts';

/** The manifest file name inside the output directory. */
export const MANIFEST = '_manifest.json';

/** The manifest of a run, or of one shard of it (`_manifest.shard-1-of-4.json`: shards never share a file). */
export function manifestName(shard?: { index: number; count: number }): string {
  return shard ? `_manifest.shard-${shard.index}-of-${shard.count}.json` : MANIFEST;
}

/** An earlier committed run of an incremental output. */
export interface RunHistory {
  readonly runId: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly rows: number;
  readonly watermarkFrom?: number;
  readonly watermarkTo?: number;
}

/** The manifest, version 1. */
export interface Manifest {
  version: 1;
  runId: string;
  /** `running` until the run ends; `committed` when every unit succeeded; `failed` otherwise. */
  status: 'running' | 'committed' | 'failed';
  startedAt: string;
  finishedAt?: string;
  model: { name: string; version: string };
  partitionBy?: string;
  /** Set when this run is one shard (`--shard i/n`) of a run split by an external scheduler. */
  shard?: { index: number; count: number };
  inputs: InputFile[];
  failedInputs: { file: string; message: string }[];
  unitsPlanned: number;
  units: Record<string, Omit<UnitResult, 'id' | 'error'>>;
  failedUnits: { id: string; file: string; code: string; message: string }[];
  rows: number;
  stats: PredictionStats & { partitions: Record<string, PredictionStats> };
  /** Incremental outputs: the column, this run's lower bound, and the committed watermark. */
  incremental?: { column: string; from?: number; to?: number };
  /** The committed watermark: rows above it are new. Moves only when a run commits. */
  watermark?: number;
  history: RunHistory[];
  /** Temporary files of writers killed mid-write (this run's, or this manifest's) removed by this run. */
  removedTemp?: number;
}

/** Parses a manifest's text; undefined when there is none. */
export function parseManifest(text: string | undefined, where: string): Manifest | undefined {
  if (text === undefined) return undefined;
  try {
    const m = JSON.parse(text) as Manifest;
    if (m.version === 1 && typeof m.runId === 'string') return m;
  } catch { /* reported below */ }
  throw new Error(`${where} is not an omniserve batch manifest; move it away or choose another --output`);
}

/** Records a successful unit (replacing an earlier entry of the same id) and re-totals the run. */
export function recordUnit(m: Manifest, r: UnitResult): void {
  const { id, error: _error, ...entry } = r;
  m.units[id] = entry;
  m.failedUnits = m.failedUnits.filter((f) => f.id !== id);
  retotal(m);
}

/** Records a failed unit. */
export function recordFailure(m: Manifest, r: UnitResult): void {
  m.failedUnits = [...m.failedUnits.filter((f) => f.id !== r.id), { id: r.id, file: r.file, code: r.error!.code, message: r.error!.message }];
}

function retotal(m: Manifest): void {
  let stats = emptyStats();
  const partitions: Record<string, PredictionStats> = {};
  let rows = 0;
  for (const u of Object.values(m.units)) {
    rows += u.rows;
    stats = mergeStats(stats, u.stats);
    for (const o of u.outputs) if (o.partition) partitions[o.partition] = mergeStats(partitions[o.partition] ?? emptyStats(), o.stats);
  }
  m.rows = rows;
  m.stats = { ...stats, partitions };
}

/** The largest watermark among the units done (and the run's lower bound). */
export function runWatermark(m: Manifest): number | undefined {
  let w = m.incremental?.from;
  for (const u of Object.values(m.units)) if (u.maxWatermark !== undefined && (w === undefined || u.maxWatermark > w)) w = u.maxWatermark;
  return w;
}
