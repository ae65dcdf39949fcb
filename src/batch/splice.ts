/**
 * Output by column-chunk copy: when a unit is a whole row group written as one file (no
 * rows dropped, one partition), the input's column chunks go to the output byte for byte
 * (pages, encodings and compression as the input had them) and only the new columns
 * (prediction, probability, run id, timestamp, enriched fields) are encoded. A footer
 * listing both is written with hyparquet-writer's thrift writer. Decoding and re-encoding
 * 30+ input columns was most of a unit's time; a copy is a memcpy.
 * @module
 */
import type { ColumnChunk, FileMetaData, RowGroup } from 'hyparquet';
import { parquetMetadata } from 'hyparquet';
import { ByteWriter } from 'hyparquet-writer';
import { writeMetadata } from 'hyparquet-writer/src/metadata.js';

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
 * A Parquet file of one row group: row group `rg` of `input` (its bytes `rgBytes`, read
 * from `rowGroupRange(rg)`), followed by the columns of `extra` (a Parquet file of one row
 * group with as many rows). Returned as pieces to write in order.
 */
export function spliceParquet(input: FileMetaData, rg: RowGroup, rgBytes: Uint8Array, extra: Uint8Array, createdBy: string): Uint8Array[] {
  const extraMeta = parquetMetadata(extra.buffer.slice(extra.byteOffset, extra.byteOffset + extra.byteLength) as ArrayBuffer);
  const erg = extraMeta.row_groups[0];
  if (extraMeta.row_groups.length !== 1 || !erg || erg.num_rows !== rg.num_rows) throw new Error('the new columns must be one row group as long as the input one');
  const [lo, hi] = rowGroupRange(rg);
  const [elo, ehi] = rowGroupRange(erg);
  // Input chunks move from `lo` to 4; the new ones follow them.
  const shiftIn = 4n - BigInt(lo);
  const shiftEx = BigInt(4 + (hi - lo) - elo);
  const moved = (c: ColumnChunk, by: bigint): ColumnChunk => {
    const md = c.meta_data!;
    // Statistics, page indexes and bloom filters are left behind (they are not copied, or
    // would need converting back); the manifest keeps the prediction statistics.
    return {
      file_offset: c.file_offset + by,
      meta_data: {
        type: md.type, encodings: md.encodings, path_in_schema: md.path_in_schema, codec: md.codec, num_values: md.num_values,
        total_uncompressed_size: md.total_uncompressed_size, total_compressed_size: md.total_compressed_size,
        data_page_offset: md.data_page_offset + by,
        ...(md.dictionary_page_offset !== undefined && md.dictionary_page_offset > 0n ? { dictionary_page_offset: md.dictionary_page_offset + by } : {}),
        ...(md.encoding_stats ? { encoding_stats: md.encoding_stats } : {}),
      },
    };
  };
  const columns = [...rg.columns.map((c) => moved(c, shiftIn)), ...erg.columns.map((c) => moved(c, shiftEx))];
  const schema = [{ ...input.schema[0]!, num_children: (input.schema[0]!.num_children ?? 0) + (extraMeta.schema[0]!.num_children ?? 0) }, ...input.schema.slice(1), ...extraMeta.schema.slice(1)];
  const total = (k: 'total_uncompressed_size' | 'total_compressed_size') => columns.reduce((n, c) => n + c.meta_data![k], 0n);
  const meta: FileMetaData = {
    version: 1, schema, num_rows: rg.num_rows, created_by: createdBy, metadata_length: 0,
    row_groups: [{ columns, num_rows: rg.num_rows, total_byte_size: total('total_uncompressed_size'), file_offset: 4n, total_compressed_size: total('total_compressed_size') }],
  };
  const footer = new ByteWriter();
  // hyparquet-writer types its own copy of hyparquet's FileMetaData: the same shape.
  writeMetadata(footer, meta as never);
  footer.appendBytes(MAGIC);
  return [MAGIC, rgBytes.subarray(0, hi - lo), extra.subarray(elo, ehi), footer.getBytes()];
}
