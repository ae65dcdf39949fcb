/**
 * Parquet ↔ Arrow for batch units: a unit's rows are read from one row group by hyparquet
 * (pages decoded in JavaScript, where a damaged page is an ordinary error) into Arrow
 * columns of the types parquet-wasm (Rust's parquet crate in WebAssembly, ranged reads
 * through a Blob, so a file is never loaded whole) would give, or by parquet-wasm where
 * hyparquet cannot; the output table (input columns plus prediction columns) is written
 * back through parquet-wasm. No per-row JavaScript objects on the numeric path. The WebAssembly module
 * is instantiated by the host first (`initParquetWasm` in ./parquet-wasm.ts), so this
 * stays Web-API-only.
 * @module
 */
// The DOM build of Arrow: the same API without Node stream adapters, and half the modules
// to load (worker threads start faster).
import * as arrow from 'apache-arrow/Arrow.dom';
import { parquetRead, parquetSchema, type AsyncBuffer, type DecodedArray, type FileMetaData, type ParquetParsers, type SchemaElement } from 'hyparquet';
import { ParquetFile, Table as WasmTable, writeParquet, WriterPropertiesBuilder, Compression, EnabledStatistics } from 'parquet-wasm/esm';

/** An open input file: footer parsed once, row groups read on demand. */
export interface ParquetSource {
  /** Rows [offset, offset + limit) of row group `rowGroup` (all columns, or `columns`), as one Arrow record batch. */
  read(rowGroup: number, offset: number, limit: number, columns?: readonly string[]): Promise<arrow.Table>;
  /** The Arrow schema `read` gives (from the footer alone: no page is decoded). */
  schema(): arrow.Schema;
  close(): void;
}

/** Opens a Parquet file held by a Blob (Node's `fs.openAsBlob`, `Bun.file`, a browser File). */
export async function openParquet(blob: Blob): Promise<ParquetSource> {
  const file = await ParquetFile.fromFile(blob);
  let schema: arrow.Schema | undefined;
  return {
    schema: () => (schema ??= arrow.tableFromIPC(file.schema().intoIPCStream()).schema),
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

/**
 * A string column's values (UTF-8, plain or large, or dictionary-encoded as Parquet writers
 * often store them), or undefined when the column holds something else.
 */
export function stringValues(v: arrow.Vector): string[] | undefined {
  const t = v.type;
  const text = (x: arrow.DataType) => arrow.DataType.isUtf8(x) || arrow.DataType.isLargeUtf8(x);
  if (!text(t) && !(arrow.DataType.isDictionary(t) && text(t.dictionary))) return undefined;
  return Array.from(v as Iterable<string>);
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
  const chunks = await decodedChunks(bytesFile(bytes, lo, byteLength), metadata, columns, groupStart, rows);
  const cols: Record<string, arrow.Vector> = {};
  for (const name of columns) {
    const values = rangeOf(chunks.get(name) ?? [], groupStart, rows, name);
    cols[name] = ArrayBuffer.isView(values) ? arrow.makeVector(values as never) : arrow.vectorFromArray(values as never);
  }
  return new arrow.Table(cols);
}

/** hyparquet's decoded chunks of `columns` over rows [rowStart, rowStart + rows), by column. */
async function decodedChunks(file: AsyncBuffer, metadata: FileMetaData, columns: readonly string[], rowStart: number, rows: number,
  parsers?: Partial<ParquetParsers>): Promise<Map<string, { rowStart: number; data: DecodedArray }[]>> {
  const chunks = new Map<string, { rowStart: number; data: DecodedArray }[]>();
  await parquetRead({ file, metadata, columns: [...columns], rowStart, rowEnd: rowStart + rows, ...(parsers ? { parsers } : {}),
    onChunk: (c) => { let l = chunks.get(c.columnName); if (!l) chunks.set(c.columnName, (l = [])); l.push({ rowStart: c.rowStart, data: c.columnData }); } });
  return chunks;
}

/**
 * A file of `byteLength` bytes of which `bytes` holds the range [lo, …), for hyparquet.
 * Slices are copies: decoded values may be views of what slice answers, and `bytes` is
 * reused after the unit.
 */
export function bytesFile(bytes: Uint8Array, lo: number, byteLength: number): AsyncBuffer {
  return { byteLength, slice: (s, e) => bytes.buffer.slice(bytes.byteOffset + s - lo, bytes.byteOffset + (e ?? byteLength) - lo) as ArrayBuffer };
}

/** hyparquet's values as stored: timestamps and dates as numbers, strings as their bytes. */
const RAW: Partial<ParquetParsers> = {
  timestampFromMilliseconds: (v) => v, timestampFromMicroseconds: (v) => v, timestampFromNanoseconds: (v) => v,
  dateFromDays: (d) => d, stringFromBytes: (b) => b, jsonFromBytes: (b) => b,
  geometryFromBytes: (b) => b, geographyFromBytes: (b) => b, uuidFromBytes: (b) => b,
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Rows [rowStart, rowStart + rows) (file rows, inside one row group) of the top-level
 * columns `fields` (as parquet-wasm's schema types them), decoded by hyparquet: every page
 * the rows lie in is decoded, so a damaged page throws here as an ordinary error (parquet-wasm
 * panics on such pages, uncaught). Each column comes back as one Arrow vector of exactly the
 * type and values parquet-wasm gives, so what is written from it is the same; a column whose
 * type is not built here (nested, decimal, float16, fixed-size binary, intervals, dictionary,
 * units that parquet-wasm converts) comes back undefined, its pages decoded all the same.
 */
export async function readRows(file: AsyncBuffer, metadata: FileMetaData, fields: readonly arrow.Field[], rowStart: number, rows: number): Promise<Map<string, arrow.Vector | undefined>> {
  const chunks = await decodedChunks(file, metadata, fields.map((f) => f.name), rowStart, rows, RAW);
  const top = new Map(parquetSchema(metadata).children.map((c) => [c.element.name, c]));
  const out = new Map<string, arrow.Vector | undefined>();
  for (const f of fields) {
    const node = top.get(f.name);
    const values = rangeOf(chunks.get(f.name) ?? [], rowStart, rows, f.name);
    const flat = node && node.children.length === 0 && node.element.repetition_type !== 'REPEATED';
    out.set(f.name, flat ? vectorOf(f.type, node.element, values, rows) : undefined);
  }
  return out;
}

/** Rows [from, from + n) out of a column's decoded chunks (chunks may reach outside the range). */
function rangeOf(parts: { rowStart: number; data: DecodedArray }[], from: number, n: number, name: string): ArrayLike<unknown> {
  parts.sort((a, b) => a.rowStart - b.rowStart);
  type Typed = Int32Array & { subarray(a: number, b: number): Typed; set(a: Typed, at: number): void };
  const inRange = parts.filter((p) => p.rowStart < from + n && p.rowStart + p.data.length > from);
  const first = inRange[0]?.data;
  const typed = first !== undefined && ArrayBuffer.isView(first) && inRange.every((p) => p.data.constructor === first.constructor);
  const only = inRange.length === 1 ? inRange[0]! : undefined;
  if (only && only.rowStart <= from && only.rowStart + only.data.length >= from + n) {
    if (only.rowStart === from && only.data.length === n) return only.data;
    if (typed) return (only.data as Typed).subarray(from - only.rowStart, from - only.rowStart + n);
  }
  const out = typed ? new (first.constructor as new (n: number) => Typed)(n) : new Array<unknown>(n);
  let got = 0;
  for (const p of inRange) {
    const lo = Math.max(from, p.rowStart);
    const hi = Math.min(from + n, p.rowStart + p.data.length);
    if (typed) (out as Typed).set((p.data as Typed).subarray(lo - p.rowStart, hi - p.rowStart), lo - from);
    else for (let r = lo; r < hi; r++) (out as unknown[])[r - from] = p.data[r - p.rowStart];
    got += Math.max(0, hi - lo);
  }
  if (got !== n) throw new Error(`column ${name}: decoded ${got} rows, expected ${n}`);
  return out;
}

/** What parquet-wasm's values of a TIMESTAMP / TIME column count (arrow.TimeUnit), from the column's annotation. */
function unitOf(el: SchemaElement): number | undefined {
  const lt = el.logical_type;
  const u = lt?.type === 'TIMESTAMP' || lt?.type === 'TIME' ? lt.unit : undefined;
  const c = el.converted_type;
  if (u === 'MILLIS' || c === 'TIMESTAMP_MILLIS' || c === 'TIME_MILLIS') return arrow.TimeUnit.MILLISECOND;
  if (u === 'MICROS' || c === 'TIMESTAMP_MICROS' || c === 'TIME_MICROS') return arrow.TimeUnit.MICROSECOND;
  if (u === 'NANOS') return arrow.TimeUnit.NANOSECOND;
  return undefined;
}

/**
 * One flat column as an Arrow vector of `type` (the type parquet-wasm gives it), or
 * undefined where hyparquet's values are not that type's values as they are.
 */
function vectorOf(type: arrow.DataType, el: SchemaElement, values: ArrayLike<unknown>, n: number): arrow.Vector | undefined {
  const p = el.type;
  const lt = el.logical_type?.type;
  const c = el.converted_type;
  const annotated = lt !== undefined && lt !== 'INTEGER' || c !== undefined && !/^U?INT_/.test(c);
  let ok: boolean;
  if (arrow.DataType.isInt(type)) ok = (p === 'INT32' || p === 'INT64') && !annotated;
  else if (arrow.DataType.isFloat(type)) ok = type.precision === arrow.Precision.SINGLE ? p === 'FLOAT' : type.precision === arrow.Precision.DOUBLE && p === 'DOUBLE';
  else if (arrow.DataType.isBool(type)) ok = p === 'BOOLEAN';
  else if (arrow.DataType.isTimestamp(type)) ok = p === 'INT96' ? type.unit === arrow.TimeUnit.NANOSECOND : p === 'INT64' && (lt === 'TIMESTAMP' || c?.startsWith('TIMESTAMP_') === true) && unitOf(el) === type.unit;
  else if (arrow.DataType.isTime(type)) ok = p === (type.bitWidth === 32 ? 'INT32' : 'INT64') && (lt === 'TIME' || c?.startsWith('TIME_') === true) && unitOf(el) === type.unit;
  else if (arrow.DataType.isDate(type)) ok = type.unit === arrow.DateUnit.DAY && p === 'INT32' && (lt === 'DATE' || c === 'DATE');
  else if (arrow.DataType.isUtf8(type) || arrow.DataType.isLargeUtf8(type) || arrow.DataType.isBinary(type) || arrow.DataType.isLargeBinary(type)) {
    return p === 'BYTE_ARRAY' && lt !== 'DECIMAL' && c !== 'DECIMAL' ? bytesVector(type, values, n) : undefined;
  } else if (arrow.DataType.isDictionary(type) && arrow.DataType.isUtf8(type.dictionary) && p === 'BYTE_ARRAY' && lt !== 'DECIMAL' && c !== 'DECIMAL') {
    // Strings dictionary-encoded in Arrow (a file written from Arrow with its schema): what is
    // written from them is the values, whatever the dictionary's order.
    const strings = new Array<string | null>(n);
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (v === null || v === undefined) strings[i] = null;
      else if (v instanceof Uint8Array) strings[i] = utf8.decode(v);
      else return undefined;
    }
    return arrow.vectorFromArray(strings, type);
  } else ok = false;
  if (!ok) return undefined;
  if (arrow.DataType.isBool(type)) {
    const bits = new Uint8Array(Math.ceil(n / 8));
    const valid = validity(values, n);
    for (let i = 0; i < n; i++) if (values[i]) bits[i >> 3]! |= 1 << (i & 7);
    return arrow.makeVector(arrow.makeData({ type, length: n, ...valid, data: bits } as never));
  }
  const Ctor = type.ArrayType as unknown as new (n: number) => { [i: number]: number | bigint };
  if (values instanceof (Ctor as unknown as typeof Int32Array) && values.length === n) return arrow.makeVector(arrow.makeData({ type, length: n, data: values } as never));
  const big = Ctor === (BigInt64Array as unknown) || Ctor === (BigUint64Array as unknown);
  const data = new Ctor(n);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v === null || v === undefined) continue;
    data[i] = big ? (typeof v === 'bigint' ? v : BigInt(v as number)) : Number(v);
  }
  return arrow.makeVector(arrow.makeData({ type, length: n, ...validity(values, n), data } as never));
}

/** Null bitmap and count of values where null/undefined stand for nulls (none: no bitmap). */
function validity(values: ArrayLike<unknown>, n: number): { nullCount: number; nullBitmap?: Uint8Array } {
  if (ArrayBuffer.isView(values)) return { nullCount: 0 };
  let bitmap: Uint8Array | undefined;
  let nulls = 0;
  for (let i = 0; i < n; i++) {
    if (values[i] !== null && values[i] !== undefined) continue;
    bitmap ??= new Uint8Array(Math.ceil(n / 8)).fill(0xff);
    bitmap[i >> 3]! &= ~(1 << (i & 7));
    nulls++;
  }
  return bitmap ? { nullCount: nulls, nullBitmap: bitmap } : { nullCount: 0 };
}

/** A string or binary column from values' bytes (UTF-8 checked for strings, as parquet-wasm checks it). */
function bytesVector(type: arrow.Utf8 | arrow.LargeUtf8 | arrow.Binary | arrow.LargeBinary, values: ArrayLike<unknown>, n: number): arrow.Vector | undefined {
  let total = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v === null || v === undefined) continue;
    if (!(v instanceof Uint8Array)) return undefined;
    total += v.length;
  }
  const large = arrow.DataType.isLargeUtf8(type) || arrow.DataType.isLargeBinary(type);
  const offsets = large ? new BigInt64Array(n + 1) : new Int32Array(n + 1);
  if (!large && total > 0x7fffffff) return undefined;
  const data = new Uint8Array(total);
  const text = arrow.DataType.isUtf8(type) || arrow.DataType.isLargeUtf8(type);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i] as Uint8Array | null | undefined;
    if (v) {
      // A value starting inside a character: invalid on its own although the whole may not be.
      if (text && v.length && (v[0]! & 0xc0) === 0x80) throw new Error(`invalid UTF-8 in a string column (row ${i} of the unit)`);
      data.set(v, at);
      at += v.length;
    }
    offsets[i + 1] = large ? BigInt(at) : at;
  }
  // Values that each start a character and make valid UTF-8 together are each valid.
  if (text) try { utf8.decode(data); } catch { throw new Error('invalid UTF-8 in a string column'); }
  return arrow.makeVector(arrow.makeData({ type, length: n, ...validity(values, n), valueOffsets: offsets, data } as never));
}
