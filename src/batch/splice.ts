/**
 * Output by column-chunk copy: when a unit is a whole row group written as one file (no
 * rows dropped, one partition), the input's column chunks go to the output byte for byte
 * (pages, encodings and compression as the input had them) and only the new columns
 * (prediction, probability, run id, timestamp, enriched fields) are encoded. A footer
 * listing both is written with hyparquet-writer's thrift writer. Decoding and re-encoding
 * 30+ input columns was most of a unit's time; a copy is a memcpy.
 * @module
 */
import type { ColumnChunk, ColumnMetaData, FileMetaData, RowGroup } from 'hyparquet';
import { parquetMetadata } from 'hyparquet';
import { ByteWriter } from 'hyparquet-writer';
import { writeMetadata } from 'hyparquet-writer/src/metadata.js';
import type { EncodedColumn } from './new-columns.ts';

const MAGIC = new Uint8Array([0x50, 0x41, 0x52, 0x31]); // PAR1

/** Where a column chunk's bytes are in its file: [start, end). */
export function chunkRange(c: ColumnChunk): [number, number] {
  const md = c.meta_data!;
  const dict = md.dictionary_page_offset;
  const start = Number(dict !== undefined && dict > 0n && dict < md.data_page_offset ? dict : md.data_page_offset);
  return [start, start + Number(md.total_compressed_size)];
}

/** Whether row group `rg` of a file can be copied: flat schema, chunks in this file, unencrypted. */
export function canCopy(metadata: FileMetaData, rg: RowGroup): boolean {
  if (metadata.schema.slice(1).some((e) => e.num_children !== undefined)) return false;
  return rg.columns.every((c) => c.meta_data && !c.file_path && !c.encrypted_column_metadata && !c.crypto_metadata);
}

/** The byte range holding every column chunk of `rg`. */
export function rowGroupRange(rg: RowGroup): [number, number] {
  let lo = Infinity;
  let hi = 0;
  for (const c of rg.columns) {
    const [s, e] = chunkRange(c);
    if (s < lo) lo = s;
    if (e > hi) hi = e;
  }
  return [lo, hi];
}

/**
 * The column chunks of `file` (a Parquet file of one row group, as parquet-wasm writes the
 * new columns when it encodes them), as pieces of it with offsets from each chunk's start.
 */
export function encodedColumnsOf(file: Uint8Array, rows: bigint): EncodedColumn[] {
  const meta = parquetMetadata(file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength) as ArrayBuffer);
  const rg = meta.row_groups[0];
  if (meta.row_groups.length !== 1 || !rg || rg.num_rows !== rows) throw new Error('the new columns must be one row group as long as the input one');
  const leaves = meta.schema.slice(1);
  return rg.columns.map((c, i) => {
    const [s, e] = chunkRange(c);
    const md = c.meta_data!;
    const at = BigInt(s);
    return {
      element: leaves[i]!, pieces: [file.subarray(s, e)],
      meta: { ...md, data_page_offset: md.data_page_offset - at, ...(md.dictionary_page_offset !== undefined && md.dictionary_page_offset > 0n && md.dictionary_page_offset < md.data_page_offset ? { dictionary_page_offset: md.dictionary_page_offset - at } : { dictionary_page_offset: undefined }) },
    };
  });
}

/**
 * A Parquet file of one row group: row group `rg` of `input` (its bytes `rgBytes`, read
 * from `rowGroupRange(rg)`), followed by the column chunks `extra` (as many rows).
 * Returned as pieces to write in order.
 */
export function spliceParquet(input: FileMetaData, rg: RowGroup, rgBytes: Uint8Array, extra: readonly EncodedColumn[], createdBy: string): Uint8Array[] {
  const [lo, hi] = rowGroupRange(rg);
  // Input chunks move from `lo` to 4; the new ones follow them.
  const shiftIn = 4n - BigInt(lo);
  // Statistics, page indexes and bloom filters are left behind (they are not copied, or
  // would need converting back); the manifest keeps the prediction statistics.
  const keep = (md: ColumnMetaData, by: bigint, dict: bigint | undefined): ColumnMetaData => ({
    type: md.type, encodings: md.encodings, path_in_schema: md.path_in_schema, codec: md.codec, num_values: md.num_values,
    total_uncompressed_size: md.total_uncompressed_size, total_compressed_size: md.total_compressed_size,
    data_page_offset: md.data_page_offset + by,
    ...(dict !== undefined ? { dictionary_page_offset: dict + by } : {}),
    ...(md.encoding_stats ? { encoding_stats: md.encoding_stats } : {}),
  });
  const columns: ColumnChunk[] = rg.columns.map((c) => {
    const md = c.meta_data!;
    const dict = md.dictionary_page_offset !== undefined && md.dictionary_page_offset > 0n ? md.dictionary_page_offset : undefined;
    return { file_offset: c.file_offset + shiftIn, meta_data: keep(md, shiftIn, dict) };
  });
  const pieces: Uint8Array[] = [MAGIC, rgBytes.subarray(0, hi - lo)];
  let at = BigInt(4 + (hi - lo));
  for (const x of extra) {
    columns.push({ file_offset: at, meta_data: keep(x.meta, at, x.meta.dictionary_page_offset) });
    for (const p of x.pieces) { pieces.push(p); at += BigInt(p.length); }
    if (x.meta.num_values > rg.num_rows) throw new Error('the new columns must be as long as the input row group');
  }
  const schema = [{ ...input.schema[0]!, num_children: (input.schema[0]!.num_children ?? 0) + extra.length }, ...input.schema.slice(1), ...extra.map((x) => x.element)];
  const total = (k: 'total_uncompressed_size' | 'total_compressed_size') => columns.reduce((n, c) => n + c.meta_data![k], 0n);
  const meta: FileMetaData = {
    version: 1, schema, num_rows: rg.num_rows, created_by: createdBy, metadata_length: 0,
    row_groups: [{ columns, num_rows: rg.num_rows, total_byte_size: total('total_uncompressed_size'), file_offset: 4n, total_compressed_size: total('total_compressed_size') }],
  };
  const footer = new ByteWriter();
  // hyparquet-writer types its own copy of hyparquet's FileMetaData: the same shape.
  writeMetadata(footer, meta as never);
  footer.appendBytes(MAGIC);
  pieces.push(footer.getBytes());
  return pieces;
}
