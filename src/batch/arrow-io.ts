/**
 * Parquet ↔ Arrow for batch units: a unit's rows are read from one row group by
 * parquet-wasm (Rust's parquet crate in WebAssembly, ranged reads through a Blob, so a
 * file is never loaded whole), handed to apache-arrow as zero-copy typed-array columns,
 * and the output table (input columns plus prediction columns) is written back through
 * parquet-wasm. No per-row JavaScript objects on the numeric path. The WebAssembly module
 * is instantiated by the host first (`initParquetWasm` in ./parquet-wasm.ts), so this
 * stays Web-API-only.
 * @module
 */
// The DOM build of Arrow: the same API without Node stream adapters, and half the modules
// to load (worker threads start faster).
import * as arrow from 'apache-arrow/Arrow.dom';
import { parquetRead, type AsyncBuffer, type DecodedArray, type FileMetaData } from 'hyparquet';
import { ParquetFile, Table as WasmTable, writeParquet, WriterPropertiesBuilder, Compression, EnabledStatistics } from 'parquet-wasm/esm';

/** An open input file: footer parsed once, row groups read on demand. */
export interface ParquetSource {
  /** Rows [offset, offset + limit) of row group `rowGroup` (all columns, or `columns`), as one Arrow record batch. */
  read(rowGroup: number, offset: number, limit: number, columns?: readonly string[]): Promise<arrow.Table>;
  close(): void;
}

/** Opens a Parquet file held by a Blob (Node's `fs.openAsBlob`, `Bun.file`, a browser File). */
export async function openParquet(blob: Blob): Promise<ParquetSource> {
  const file = await ParquetFile.fromFile(blob);
  return {
    async read(rowGroup, offset, limit, columns) {
      const t = await file.read({ rowGroups: [rowGroup], offset, limit, batchSize: Math.max(1, limit), ...(columns ? { columns: [...columns] } : {}) });
      return arrow.tableFromIPC(t.intoIPCStream());
    },
    close: () => file.free(),
  };
}

/** Typed arrays a numeric column can come as. */
export type NumericArray = Float32Array | Float64Array | Int8Array | Int16Array | Int32Array | Uint8Array | Uint16Array | Uint32Array;

/**
 * A numeric column's values as one typed array (zero-copy for a single chunk); 64-bit
 * integers become doubles. undefined when the column is not numeric.
 */
export function numericValues(v: arrow.Vector): NumericArray | undefined {
  const t = v.type;
  if (!arrow.DataType.isFloat(t) && !arrow.DataType.isInt(t)) return undefined;
  const a: unknown = v.data.length === 1 ? v.data[0]!.values : v.toArray();
  if (a instanceof BigInt64Array || a instanceof BigUint64Array) {
    const out = new Float64Array(a.length);
    for (let i = 0; i < a.length; i++) out[i] = Number(a[i]!);
    return out;
  }
  if (a instanceof Uint16Array && arrow.DataType.isFloat(t) && t.precision === arrow.Precision.HALF) return undefined;
  return a as NumericArray;
}

/** The first null row of `v`, or -1. */
export function firstNull(v: arrow.Vector): number {
  if (v.nullCount === 0) return -1;
  for (let i = 0; i < v.length; i++) if (!v.isValid(i)) return i;
  return -1;
}

/** Rows `idx` of `table`, in that order, with the same schema. */
export function takeRows(table: arrow.Table, idx: Uint32Array): arrow.Table {
  const cols: Record<string, arrow.Vector> = {};
  for (const f of table.schema.fields) cols[f.name] = takeVector(table.getChild(f.name)!, idx);
  return new arrow.Table(cols);
}

function takeVector(v: arrow.Vector, idx: Uint32Array): arrow.Vector {
  const t = v.type;
  const fixed = arrow.DataType.isInt(t) || arrow.DataType.isFloat(t) || arrow.DataType.isTimestamp(t) || arrow.DataType.isDate(t) || arrow.DataType.isTime(t) || arrow.DataType.isDuration(t);
  if (fixed && v.nullCount === 0 && v.data.length === 1 && v.data[0]!.stride === 1) {
    const src = v.data[0]!.values as unknown as { length: number; [i: number]: number | bigint; constructor: new (n: number) => unknown };
    const out = new src.constructor(idx.length) as { [i: number]: number | bigint };
    for (let i = 0; i < idx.length; i++) out[i] = src[idx[i]!]!;
    return arrow.makeVector(arrow.makeData({ type: t, length: idx.length, data: out } as never));
  }
  const values = new Array<unknown>(idx.length);
  for (let i = 0; i < idx.length; i++) values[i] = v.get(idx[i]!);
  return arrow.vectorFromArray(values, t);
}

/** What every output row of a run carries, and how the file is written. */
export interface OutputColumns {
  readonly prediction: Float64Array;
  readonly probability: Float64Array;
  readonly hasProbability: boolean;
  readonly runId: string;
  /** Epoch milliseconds of the run's start. */
  readonly timestamp: number;
}

/**
 * The output table: the input columns as read, then `prediction`, `probability` (null when
 * the model gives none), `prediction_run_id` (dictionary-encoded: one value per file) and
 * `prediction_timestamp` (UTC milliseconds).
 */
export function outputTable(input: arrow.Table, o: OutputColumns): arrow.Table {
  const cols: Record<string, arrow.Vector> = {};
  for (const f of input.schema.fields) cols[f.name] = input.getChild(f.name)!;
  return new arrow.Table({ ...cols, ...predictionColumns(input.numRows, o) });
}

/** The four prediction columns of `rows` rows. */
export function predictionColumns(rows: number, o: OutputColumns): Record<string, arrow.Vector> {
  const cols: Record<string, arrow.Vector> = {};
  cols['prediction'] = arrow.makeVector(o.prediction);
  cols['probability'] = o.hasProbability ? arrow.makeVector(o.probability)
    : arrow.makeVector(arrow.makeData({ type: new arrow.Float64(), length: rows, nullCount: rows, nullBitmap: new Uint8Array(Math.ceil(rows / 8)), data: new Float64Array(rows) }));
  cols['prediction_run_id'] = arrow.makeVector(arrow.makeData({
    type: new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32()), length: rows, data: new Int32Array(rows),
    dictionary: arrow.vectorFromArray([o.runId], new arrow.Utf8()),
  }));
  cols['prediction_timestamp'] = arrow.makeVector(arrow.makeData({ type: new arrow.TimestampMillisecond('UTC'), length: rows, data: new BigInt64Array(rows).fill(BigInt(o.timestamp)) }));
  return cols;
}

/**
 * Encodes a table as one Parquet row group. PLAIN numbers (trying dictionaries on float
 * features costs more than it saves), dictionaries only for strings, no column statistics
 * (the manifest holds the statistics of predictions).
 */
export function encodeParquet(table: arrow.Table, compression: 'SNAPPY' | 'UNCOMPRESSED'): Uint8Array {
  let props = new WriterPropertiesBuilder()
    .setCompression(compression === 'SNAPPY' ? Compression.SNAPPY : Compression.UNCOMPRESSED)
    .setDictionaryEnabled(false).setStatisticsEnabled(EnabledStatistics.None)
    .setMaxRowGroupSize(Math.max(1, table.numRows)).setWriteBatchSize(65_536).setCreatedBy('omniserve batch');
  for (const f of table.schema.fields) if (arrow.DataType.isUtf8(f.type) || arrow.DataType.isDictionary(f.type)) props = props.setColumnDictionaryEnabled(f.name, true);
  return writeParquet(WasmTable.fromIPCStream(arrow.tableToIPC(table, 'stream')), props.build());
}

/**
 * Columns of one row group decoded by hyparquet from the row group's bytes already in
 * memory (`bytes` holds the file's range [lo, …)): the copy path reads those bytes anyway,
 * and decoding them in JavaScript skips a second read and the WebAssembly round trip.
 * Numeric columns stay typed arrays (zero-copy into Arrow); others go through Arrow builders.
 */
export async function decodeRowGroup(metadata: FileMetaData, groupStart: number, rows: number, bytes: Uint8Array, lo: number, byteLength: number, columns: readonly string[]): Promise<arrow.Table> {
  // Copies: decoded values may be views of what slice answers, and `bytes` is reused after the unit.
  const file: AsyncBuffer = { byteLength, slice: (s, e) => bytes.buffer.slice(bytes.byteOffset + s - lo, bytes.byteOffset + (e ?? byteLength) - lo) as ArrayBuffer };
  const chunks = new Map<string, { rowStart: number; data: DecodedArray }[]>();
  await parquetRead({ file, metadata, columns: [...columns], rowStart: groupStart, rowEnd: groupStart + rows,
    onChunk: (c) => { let l = chunks.get(c.columnName); if (!l) chunks.set(c.columnName, (l = [])); l.push({ rowStart: c.rowStart, data: c.columnData }); } });
  const cols: Record<string, arrow.Vector> = {};
  for (const name of columns) {
    const parts = (chunks.get(name) ?? []).sort((a, b) => a.rowStart - b.rowStart).map((p) => p.data);
    const first = parts[0];
    const typed = first !== undefined && ArrayBuffer.isView(first) && parts.every((p) => p.constructor === first.constructor);
    if (typed) {
      const Ctor = first.constructor as new (n: number) => { set(a: ArrayLike<unknown>, o: number): void };
      const all = parts.length === 1 ? first : (() => { const out = new Ctor(rows); let o = 0; for (const p of parts) { out.set(p as never, o); o += p.length; } return out; })();
      cols[name] = arrow.makeVector(all as never);
    } else {
      const values: unknown[] = [];
      for (const p of parts) for (let i = 0; i < p.length; i++) values.push(p[i]);
      cols[name] = arrow.vectorFromArray(values as never);
    }
    if (cols[name]!.length !== rows) throw new Error(`column ${name}: decoded ${cols[name]!.length} rows, expected ${rows}`);
  }
  return new arrow.Table(cols);
}
