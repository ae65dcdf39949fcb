/**
 * The fast path for the usual feature column: FLOAT or DOUBLE, REQUIRED (or OPTIONAL with
 * no nulls), PLAIN-encoded, uncompressed or Snappy, no dictionary. Its values are typed-array
 * views of its pages in the row group's bytes (one copy when there are several pages or they
 * are compressed): no decoder in between. Anything else answers undefined and the caller
 * decodes the column generally.
 * @module
 */
import type { ColumnChunk, SchemaElement } from 'hyparquet';
import { snappyUncompress } from 'hyparquet';
import { parquetHeader } from 'hyparquet/src/column.js';

/**
 * The `rows` values of `chunk` as one typed array (a view of the page when the chunk is one
 * aligned uncompressed page, else one copy). `bytes` holds the file's range starting at
 * `base`. `alloc` gives the memory for a copy (8-byte aligned). undefined when the chunk is
 * not of the simple kind.
 */
export function plainValues(bytes: Uint8Array, base: number, chunk: ColumnChunk, element: SchemaElement, rows: number, alloc?: (bytes: number) => Uint8Array): Float32Array | Float64Array | undefined {
  const got = pages(bytes, base, chunk, element, rows);
  if (!got) return undefined;
  const first = got[0]!;
  const size = chunk.meta_data!.type === 'FLOAT' ? 4 : 8;
  if (got.length === 1 && (first.byteOffset % size) === 0) {
    return size === 4 ? new Float32Array(first.buffer, first.byteOffset, rows) : new Float64Array(first.buffer, first.byteOffset, rows);
  }
  // Several pages, or values not aligned for a typed-array view: one copy (into `alloc`'s memory when given).
  const out = alloc ? alloc(rows * size) : new Uint8Array(rows * size);
  let o = 0;
  for (const p of got) { out.set(p, o); o += p.length; }
  return size === 4 ? new Float32Array(out.buffer, out.byteOffset, rows) : new Float64Array(out.buffer, out.byteOffset, rows);
}

/** The little-endian value bytes of each page of `chunk` (float when md.type is FLOAT, else double). */
function pages(bytes: Uint8Array, base: number, chunk: ColumnChunk, element: SchemaElement, rows: number): Uint8Array[] | undefined {
  const md = chunk.meta_data;
  if (!md || (md.type !== 'FLOAT' && md.type !== 'DOUBLE') || (element.repetition_type !== 'REQUIRED' && element.repetition_type !== 'OPTIONAL')) return undefined;
  const optional = element.repetition_type === 'OPTIONAL';
  if (md.codec !== 'UNCOMPRESSED' && md.codec !== 'SNAPPY') return undefined;
  if (md.dictionary_page_offset !== undefined && md.dictionary_page_offset > 0n) return undefined;
  if (Number(md.num_values) !== rows) return undefined;
  const out: Uint8Array[] = [];
  const size = md.type === 'FLOAT' ? 4 : 8;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const reader = { view, offset: Number(md.data_page_offset) - base };
  const end = reader.offset + Number(md.total_compressed_size);
  let row = 0;
  while (row < rows && reader.offset < end) {
    const header = parquetHeader(reader);
    const start = reader.offset;
    reader.offset += header.compressed_page_size;
    let values: Uint8Array;
    let n: number;
    if (header.type === 'DATA_PAGE' && header.data_page_header) {
      if (header.data_page_header.encoding !== 'PLAIN') return undefined;
      n = header.data_page_header.num_values;
      const page = bytes.subarray(start, start + header.compressed_page_size);
      values = md.codec === 'SNAPPY' ? uncompress(page, header.uncompressed_page_size) : page;
      if (optional) {
        // Definition levels first (RLE, 4-byte length): usable only as one run of 1s (no nulls).
        if (header.data_page_header.definition_level_encoding !== 'RLE' || values.byteLength < 4) return undefined;
        const len = values[0]! | (values[1]! << 8) | (values[2]! << 16) | (values[3]! << 24);
        if (!allOnes(values.subarray(4, 4 + len), n)) return undefined;
        values = values.subarray(4 + len);
      }
    } else if (header.type === 'DATA_PAGE_V2' && header.data_page_header_v2) {
      const h = header.data_page_header_v2;
      if (h.encoding !== 'PLAIN' || h.num_nulls) return undefined;
      n = h.num_values;
      const levels = h.definition_levels_byte_length + h.repetition_levels_byte_length;
      const page = bytes.subarray(start + levels, start + header.compressed_page_size);
      values = md.codec === 'SNAPPY' && h.is_compressed ? uncompress(page, header.uncompressed_page_size - levels) : page;
    } else if (header.type === 'INDEX_PAGE') {
      continue;
    } else {
      return undefined;
    }
    if (values.byteLength < n * size || row + n > rows) return undefined;
    out.push(values.subarray(0, n * size));
    row += n;
  }
  return row === rows ? out : undefined;
}

/** Whether RLE/bit-packed levels of bit width 1 are a single RLE run of at least `n` ones. */
function allOnes(levels: Uint8Array, n: number): boolean {
  let header = 0;
  let shift = 0;
  let i = 0;
  for (; i < levels.length && i < 5; i++) {
    header |= (levels[i]! & 0x7f) << shift;
    shift += 7;
    if (!(levels[i]! & 0x80)) { i++; break; }
  }
  if (header & 1) return false; // a bit-packed run: some level may be 0
  return header >>> 1 >= n && levels[i] === 1;
}

function uncompress(page: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  snappyUncompress(page, out);
  return out;
}
