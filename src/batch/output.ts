/**
 * A scored unit → Parquet bytes, one file per partition value: the input columns as read,
 * then `prediction`, `probability`, `prediction_run_id`, `prediction_timestamp`.
 * Encoding happens here (Web-API-only); the host writes the bytes atomically.
 * @module
 */
import type { DecodedArray, SchemaElement } from 'hyparquet';
import { parquetWriteBuffer, type BasicType, type ColumnSource } from 'hyparquet-writer';
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

const NUMERIC = new Set<BasicType>(['INT32', 'INT64', 'FLOAT', 'DOUBLE']);

/** An input column as the output writes it: its name, and its type from the input's schema. */
export interface ColumnSpec {
  readonly name: string;
  readonly type?: BasicType;
  readonly nullable: boolean;
}

/**
 * The output type of an input column. Guessing from values is wrong for arrays of doubles
 * that happen to be integers (they would become INT32), so the input schema decides.
 */
export function columnSpec(e: SchemaElement): ColumnSpec {
  const nullable = e.repetition_type === 'OPTIONAL';
  const conv = e.converted_type;
  const logical = e.logical_type?.type;
  const type: BasicType | undefined = logical === 'TIMESTAMP' || conv === 'TIMESTAMP_MILLIS' || conv === 'TIMESTAMP_MICROS' ? 'TIMESTAMP'
    : e.type === 'BYTE_ARRAY' && (conv === 'UTF8' || logical === 'STRING') ? 'STRING'
    : conv || logical ? undefined
    : e.type === 'BOOLEAN' || e.type === 'INT32' || e.type === 'INT64' || e.type === 'FLOAT' || e.type === 'DOUBLE' ? e.type
    : undefined;
  return { name: e.name, nullable, ...(type ? { type } : {}) };
}

/** Encodes a unit: all rows, or rows grouped by the partition column's value. */
export function encodeUnit(columns: Readonly<Record<string, DecodedArray>>, names: readonly ColumnSpec[], scores: Scores, ctx: OutputContext): EncodedPart[] {
  const rows = scores.prediction.length;
  if (!ctx.partitionBy) return rows ? [encodePart('', columns, names, scores, undefined, ctx)] : [];
  const groups = new Map<string, number[]>();
  const col = columns[ctx.partitionBy]!;
  for (let i = 0; i < rows; i++) {
    const dir = `${ctx.partitionBy}=${partitionValue(col[i])}`;
    let g = groups.get(dir);
    if (!g) groups.set(dir, (g = []));
    g.push(i);
  }
  return [...groups].map(([dir, idx]) => encodePart(dir, columns, names, scores, idx, ctx));
}

/** A value as a directory name: dates as ISO text, unsafe characters percent-encoded. */
export function partitionValue(v: unknown): string {
  if (v === null || v === undefined) return NULL_PARTITION;
  const text = v instanceof Date ? v.toISOString() : String(v);
  return encodeURIComponent(text);
}

function encodePart(partition: string, columns: Readonly<Record<string, DecodedArray>>, names: readonly ColumnSpec[], scores: Scores, idx: number[] | undefined, ctx: OutputContext): EncodedPart {
  const pick = <T extends DecodedArray>(a: T): T => (idx ? take(a, idx) : a);
  const prediction = pick(scores.prediction);
  const rows = prediction.length;
  // PLAIN for numbers: trying a dictionary on every float column costs more than it saves
  // on features (measured: about half the encode time); strings keep the writer's choice.
  const data: ColumnSource[] = names.map((c) => ({ ...c, data: pick(columns[c.name]!), ...(c.type && NUMERIC.has(c.type) ? { encoding: 'PLAIN' as const } : {}) }));
  data.push(
    { name: 'prediction', data: prediction, type: 'DOUBLE', encoding: 'PLAIN' },
    scores.hasProbability ? { name: 'probability', data: pick(scores.probability), type: 'DOUBLE', encoding: 'PLAIN' }
      : { name: 'probability', data: new Array<null>(rows).fill(null), type: 'DOUBLE', nullable: true },
    { name: 'prediction_run_id', data: new Array<string>(rows).fill(ctx.runId), type: 'STRING' },
    { name: 'prediction_timestamp', data: new Array<Date>(rows).fill(ctx.timestamp), type: 'TIMESTAMP' },
  );
  // No column statistics: they cost a third of the encode time, and the manifest already
  // holds the statistics that matter (of predictions, per unit and partition).
  const bytes = new Uint8Array(parquetWriteBuffer({ columnData: data, codec: ctx.compression, rowGroupSize: rows || 1, statistics: false }));
  return { partition, rows, bytes, stats: statsOf(scores.prediction, idx) };
}

/** The elements `idx` of a column, in that order, in an array of the same kind. */
export function take<T extends DecodedArray>(a: T, idx: readonly number[]): T {
  if (Array.isArray(a)) return idx.map((i) => a[i]) as T;
  const ctor = a.constructor as new (n: number) => T & { [i: number]: number | bigint };
  const out = new ctor(idx.length);
  const src = a as unknown as { [i: number]: number | bigint };
  for (let i = 0; i < idx.length; i++) out[i] = src[idx[i]!]!;
  return out;
}
