/**
 * A scored unit → Parquet bytes, one file per partition value: the input columns as read,
 * then `prediction`, `probability`, `prediction_run_id`, `prediction_timestamp`.
 * Encoding happens here (Web-API-only, parquet-wasm through Arrow); the host writes the
 * bytes atomically.
 * @module
 */
import * as arrow from 'apache-arrow/Arrow.dom';
import { encodeParquet, outputTable, takeRows } from './arrow-io.ts';
import type { Scores } from './score.ts';
import { statsOf, type PredictionStats } from './stats.ts';

/** Hive's name for a null partition value, so Spark, DuckDB and friends read it back as null. */
export const NULL_PARTITION = '__HIVE_DEFAULT_PARTITION__';

/** One output file of a unit, ready to write. */
export interface EncodedPart {
  /** `col=value` directory, or '' when the run is not partitioned. */
  readonly partition: string;
  readonly rows: number;
  readonly bytes: Uint8Array;
  readonly stats: PredictionStats;
}

/** What every output row of a run carries. */
export interface OutputContext {
  readonly runId: string;
  readonly timestamp: Date;
  readonly partitionBy?: string;
  readonly compression: 'SNAPPY' | 'UNCOMPRESSED';
}

/** Encodes a unit: all rows, or rows grouped by the partition column's value. */
export function encodeUnit(table: arrow.Table, scores: Scores, ctx: OutputContext): EncodedPart[] {
  const rows = scores.prediction.length;
  if (!rows) return [];
  if (!ctx.partitionBy) return [encodePart('', table, scores, undefined, ctx)];
  const groups = partitionGroups(table, ctx.partitionBy);
  if (groups.size === 1) return [encodePart([...groups.keys()][0]!, table, scores, undefined, ctx)];
  return [...groups].map(([dir, idx]) => encodePart(dir, table, scores, Uint32Array.from(idx), ctx));
}

/** Rows by partition directory (`col=value`), in first-seen order. */
export function partitionGroups(table: arrow.Table, partitionBy: string): Map<string, number[]> {
  const col = table.getChild(partitionBy)!;
  const groups = new Map<string, number[]>();
  for (let i = 0; i < table.numRows; i++) {
    const dir = `${partitionBy}=${partitionValue(cellValue(col, i))}`;
    let g = groups.get(dir);
    if (!g) groups.set(dir, (g = []));
    g.push(i);
  }
  return groups;
}

/** A cell as a plain value: dates and timestamps as Date, everything else as Arrow gives it. */
export function cellValue(v: arrow.Vector, i: number): unknown {
  const x: unknown = v.get(i);
  if (x === null || x === undefined) return null;
  return arrow.DataType.isTimestamp(v.type) || arrow.DataType.isDate(v.type) ? new Date(Number(x)) : x;
}

/** A value as a directory name: dates as ISO text, unsafe characters percent-encoded. */
export function partitionValue(v: unknown): string {
  if (v === null || v === undefined) return NULL_PARTITION;
  const text = v instanceof Date ? v.toISOString() : String(v);
  return encodeURIComponent(text);
}

function encodePart(partition: string, table: arrow.Table, scores: Scores, idx: Uint32Array | undefined, ctx: OutputContext): EncodedPart {
  const input = idx ? takeRows(table, idx) : table;
  const prediction = idx ? takeF64(scores.prediction, idx) : scores.prediction;
  const probability = idx ? takeF64(scores.probability, idx) : scores.probability;
  const out = outputTable(input, { prediction, probability, hasProbability: scores.hasProbability, runId: ctx.runId, timestamp: ctx.timestamp.getTime() });
  return { partition, rows: prediction.length, bytes: encodeParquet(out, ctx.compression), stats: statsOf(scores.prediction, idx) };
}

function takeF64(a: Float64Array, idx: Uint32Array): Float64Array {
  const out = new Float64Array(idx.length);
  for (let i = 0; i < idx.length; i++) out[i] = a[idx[i]!]!;
  return out;
}
