/**
 * The four prediction columns of a copied row group, encoded here as Parquet column chunks
 * without an encoder library: uncompressed pages are a page header plus bytes the unit
 * already holds, so `prediction` and `probability` go out as views of their Float64Arrays
 * (no copy, no WebAssembly round trip), and `prediction_run_id` / `prediction_timestamp`
 * (one value per run) as a one-entry dictionary and a run of zero indexes. Used when the
 * output is UNCOMPRESSED; SNAPPY outputs and enriched columns go through parquet-wasm.
 * Same schema as the parquet-wasm path: prediction and probability REQUIRED DOUBLE
 * (probability OPTIONAL and all null when the model gives none), the run id an OPTIONAL
 * UTF8 string, the timestamp an OPTIONAL INT64 TIMESTAMP(MILLIS, UTC).
 * @module
 */
import type { ColumnMetaData, Encoding, PageHeader, SchemaElement } from 'hyparquet';
import { ByteWriter } from 'hyparquet-writer';
import { writePageHeader } from 'hyparquet-writer/src/datapage.js';

/** One encoded column chunk; offsets in `meta` count from the chunk's first byte. */
export interface EncodedColumn {
  readonly element: SchemaElement;
  readonly meta: ColumnMetaData;
  readonly pieces: readonly Uint8Array[];
}

/** Rows per data page (1 MiB of doubles). */
const PAGE_ROWS = 131_072;

/** Typed arrays are little-endian here, as Parquet's PLAIN encoding is (every JS host we run on). */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The prediction columns of `rows` rows, uncompressed. */
export function predictionChunks(rows: number, o: { prediction: Float64Array; probability: Float64Array; hasProbability: boolean; runId: string; timestamp: number }, pageRows = PAGE_ROWS): EncodedColumn[] {
  if (!LITTLE_ENDIAN) throw new Error('big-endian host: use the parquet-wasm encoder');
  const ts = new BigInt64Array([BigInt(o.timestamp)]);
  const id = new TextEncoder().encode(o.runId);
  const idPlain = new Uint8Array(4 + id.length);
  new DataView(idPlain.buffer).setUint32(0, id.length, true);
  idPlain.set(id, 4);
  return [
    doubles('prediction', o.prediction, rows, pageRows),
    o.hasProbability ? doubles('probability', o.probability, rows, pageRows) : nulls('probability', rows, pageRows),
    constant({ type: 'BYTE_ARRAY', repetition_type: 'OPTIONAL', name: 'prediction_run_id', converted_type: 'UTF8', logical_type: { type: 'STRING' } }, idPlain, rows, pageRows),
    constant({ type: 'INT64', repetition_type: 'OPTIONAL', name: 'prediction_timestamp', converted_type: 'TIMESTAMP_MILLIS', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' } },
      new Uint8Array(ts.buffer), rows, pageRows),
  ];
}

function doubles(name: string, values: Float64Array, rows: number, pageRows: number): EncodedColumn {
  const pieces: Uint8Array[] = [];
  for (let s = 0; s < rows; s += pageRows) {
    const n = Math.min(pageRows, rows - s);
    const body = new Uint8Array(values.buffer, values.byteOffset + s * 8, n * 8);
    pieces.push(header({ type: 'DATA_PAGE', uncompressed_page_size: body.length, compressed_page_size: body.length,
      data_page_header: { num_values: n, encoding: 'PLAIN', definition_level_encoding: 'RLE', repetition_level_encoding: 'RLE' } }), body);
  }
  return chunk({ type: 'DOUBLE', repetition_type: 'REQUIRED', name }, pieces, rows, ['PLAIN'], 0);
}

/** An OPTIONAL DOUBLE column of nulls: definition levels only. */
function nulls(name: string, rows: number, pageRows: number): EncodedColumn {
  const pieces: Uint8Array[] = [];
  for (let s = 0; s < rows; s += pageRows) {
    const n = Math.min(pageRows, rows - s);
    const body = levels(n, 0);
    pieces.push(header({ type: 'DATA_PAGE', uncompressed_page_size: body.length, compressed_page_size: body.length,
      data_page_header: { num_values: n, encoding: 'PLAIN', definition_level_encoding: 'RLE', repetition_level_encoding: 'RLE' } }), body);
  }
  return chunk({ type: 'DOUBLE', repetition_type: 'OPTIONAL', name }, pieces, rows, ['PLAIN', 'RLE'], 0);
}

/** An OPTIONAL column holding one value in every row: a one-entry dictionary, then runs of index 0. */
function constant(element: SchemaElement, plainValue: Uint8Array, rows: number, pageRows: number): EncodedColumn {
  const pieces: Uint8Array[] = [header({ type: 'DICTIONARY_PAGE', uncompressed_page_size: plainValue.length, compressed_page_size: plainValue.length,
    dictionary_page_header: { num_values: 1, encoding: 'PLAIN' } }), plainValue];
  const dictSize = pieces[0]!.length + plainValue.length;
  for (let s = 0; s < rows; s += pageRows) {
    const n = Math.min(pageRows, rows - s);
    const defs = levels(n, 1);
    // Indexes: bit width 1, one RLE run of n zeros.
    const idx = new ByteWriter(16);
    idx.appendUint8(1);
    idx.appendVarInt(n << 1);
    idx.appendUint8(0);
    const ib = idx.getBytes();
    const body = new Uint8Array(defs.length + ib.length);
    body.set(defs);
    body.set(ib, defs.length);
    pieces.push(header({ type: 'DATA_PAGE', uncompressed_page_size: body.length, compressed_page_size: body.length,
      data_page_header: { num_values: n, encoding: 'RLE_DICTIONARY', definition_level_encoding: 'RLE', repetition_level_encoding: 'RLE' } }), body);
  }
  return chunk(element, pieces, rows, ['PLAIN', 'RLE', 'RLE_DICTIONARY'], dictSize);
}

/** Definition levels of a page whose `n` rows are all `level` (0 null, 1 defined): length-prefixed RLE, bit width 1. */
function levels(n: number, level: 0 | 1): Uint8Array {
  const w = new ByteWriter(16);
  w.appendUint32(0);
  w.appendVarInt(n << 1);
  w.appendUint8(level);
  const b = w.getBytes();
  new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(0, b.length - 4, true);
  return b;
}

function header(h: PageHeader): Uint8Array {
  const w = new ByteWriter(64);
  // hyparquet-writer types its own copy of hyparquet's PageHeader: the same shape.
  writePageHeader(w, h as never);
  return w.getBytes();
}

/** `dictSize` > 0: the chunk starts with a dictionary page of that many bytes. */
function chunk(element: SchemaElement, pieces: Uint8Array[], rows: number, encodings: Encoding[], dictSize: number): EncodedColumn {
  const size = BigInt(pieces.reduce((n, p) => n + p.length, 0));
  return {
    element, pieces,
    meta: {
      type: element.type!, encodings, path_in_schema: [element.name], codec: 'UNCOMPRESSED', num_values: BigInt(rows),
      total_uncompressed_size: size, total_compressed_size: size, data_page_offset: BigInt(dictSize),
      ...(dictSize ? { dictionary_page_offset: 0n } : {}),
    },
  };
}
