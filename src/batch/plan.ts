/**
 * Work units: a batch input is cut along its Parquet row groups (split further when a
 * group is bigger than `unitRows`), so a unit is read with one ranged read per column and
 * memory stays bounded by the largest unit, never by the file.
 * @module
 */
import type { FileMetaData } from 'hyparquet';
import { Errors } from '../errors.ts';

/** One input file, as planning saw it. */
export interface InputFile {
  readonly path: string;
  readonly size: number;
  readonly rows: number;
  readonly rowGroups: number;
  readonly columns: readonly string[];
}

/** A piece of work: rows [rowStart, rowEnd) of one file. `id` is stable across runs of the same input. */
export interface WorkUnit {
  readonly id: string;
  readonly file: string;
  readonly rowStart: number;
  readonly rowEnd: number;
}

/** Describes a file from its footer. */
export function describeInput(path: string, size: number, metadata: FileMetaData): InputFile {
  const columns = metadata.schema.slice(1).filter((e) => e.num_children === undefined).map((e) => e.name);
  return { path, size, rows: Number(metadata.num_rows), rowGroups: metadata.row_groups.length, columns };
}

/** The columns a batch job needs that this file lacks, as one clear error before any scoring. */
export function checkColumns(input: InputFile, needed: readonly string[]): void {
  const have = new Set(input.columns);
  const missing = needed.filter((c) => !have.has(c));
  if (missing.length) {
    throw Errors.MISSING_FEATURE(`${input.path}: missing column${missing.length > 1 ? 's' : ''} ${missing.map((c) => `"${c}"`).join(', ')} (the model needs them); its columns: ${input.columns.join(', ')}`,
      { file: input.path, missing });
  }
}

/**
 * Cuts a file into units. `skip(rowGroup)` drops a row group before it is read (the
 * incremental mode uses column statistics to skip groups wholly below the watermark).
 */
export function planUnits(path: string, metadata: FileMetaData, unitRows: number, skip?: (rg: FileMetaData['row_groups'][number]) => boolean): WorkUnit[] {
  const tag = fileTag(path);
  const units: WorkUnit[] = [];
  let start = 0;
  for (const rg of metadata.row_groups) {
    const n = Number(rg.num_rows);
    if (!skip?.(rg)) {
      for (let s = start; s < start + n; s += unitRows) {
        units.push({ id: `${tag}-${s}`, file: path, rowStart: s, rowEnd: Math.min(start + n, s + unitRows) });
      }
    }
    start += n;
  }
  return units;
}

/** The largest value a row group's statistics give for `column`, when they give one. */
export function rowGroupMax(rg: FileMetaData['row_groups'][number], column: string): number | undefined {
  const chunk = rg.columns.find((c) => c.meta_data?.path_in_schema.join('.') === column);
  return toWatermark(chunk?.meta_data?.statistics?.max_value);
}

/** Numbers, bigints and dates as one comparable number (dates: epoch ms); anything else undefined. */
export function toWatermark(x: unknown): number | undefined {
  if (typeof x === 'number') return Number.isNaN(x) ? undefined : x;
  if (typeof x === 'bigint') return Number(x);
  if (x instanceof Date) return x.getTime();
  return undefined;
}

/** One shard of a run split by an external scheduler: `index` of `count` (0-based). */
export interface Shard {
  readonly index: number;
  readonly count: number;
}

/** Parses `i/n` (0 ≤ i < n); undefined when malformed. */
export function parseShard(text: string): Shard | undefined {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (!m) return undefined;
  const index = Number(m[1]);
  const count = Number(m[2]);
  return count >= 1 && index < count ? { index, count } : undefined;
}

/**
 * The units of `path` (as `planUnits` cut them) that belong to `shard`: the file's units
 * are dealt round-robin starting at a shard picked by a hash of the path, so every shard
 * of every file gets its share, each unit goes to exactly one shard, and the deal depends
 * only on the file itself (a file added between two shards' starts moves no other unit).
 */
export function shardUnits(path: string, units: readonly WorkUnit[], shard: Shard): WorkUnit[] {
  const first = fnv1a(path) % shard.count;
  return units.filter((_, k) => (first + k) % shard.count === shard.index);
}

/**
 * The shard that owns a whole file in sharded incremental runs (`--shard i/n
 * --incremental`): each shard keeps its own watermark, so a row must belong to the same
 * shard in every run. Units of a growing file move (row groups are added, skipped by the
 * watermark's statistics); the file's path does not.
 */
export function fileShard(path: string, count: number): number {
  return fnv1a(path) % count;
}

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** A short stable name for a path (FNV-1a, 32 bits, plus the file's base name for humans). */
export function fileTag(path: string): string {
  const h = fnv1a(path);
  const base = (path.split('/').pop() ?? 'input').replace(/\.parquet$/i, '').replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40);
  return `${base}-${h.toString(16).padStart(8, '0')}`;
}
