// The fast path for float feature columns: values read straight from PLAIN pages must equal
// what a general decoder (hyparquet) reads, for one or many pages, aligned or not, plain or
// Snappy, V1 or V2 pages, REQUIRED or OPTIONAL, with and without the caller's memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as arrow from 'apache-arrow';
import * as pw from 'parquet-wasm/esm';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { loadParquetWasm } from '../../runtimes/native/batch-io.ts';
import { plainValues } from './plain-pages.ts';
import { rowGroupRange } from './splice.ts';

const ROWS = 5_000;

function parquet(compression: pw.Compression, pageBytes: number, version: pw.WriterVersion, nullable: boolean): Uint8Array {
  loadParquetWasm();
  const f32 = Float32Array.from({ length: ROWS }, (_, i) => Math.fround(Math.sin(i) * 1000));
  const f64 = Float64Array.from({ length: ROWS }, (_, i) => Math.cos(i) / 7);
  // A one-byte column first, so later chunks start at odd offsets.
  const tag = Int8Array.from({ length: ROWS }, (_, i) => i % 3);
  const field = (name: string, type: arrow.DataType) => new arrow.Field(name, type, nullable);
  const schema = new arrow.Schema([field('tag', new arrow.Int8()), field('a', new arrow.Float32()), field('b', new arrow.Float64())]);
  const table = new arrow.Table(schema, { tag: arrow.makeVector(tag).data[0]!, a: arrow.makeVector(f32).data[0]!, b: arrow.makeVector(f64).data[0]! } as never);
  const props = new pw.WriterPropertiesBuilder().setCompression(compression).setDictionaryEnabled(false)
    .setDataPageSizeLimit(pageBytes).setWriterVersion(version).build();
  return pw.writeParquet(pw.Table.fromIPCStream(arrow.tableToIPC(table, 'stream')), props);
}

const cases = [
  { name: 'uncompressed, one page', c: pw.Compression.UNCOMPRESSED, page: 1 << 20, v: pw.WriterVersion.V1 },
  { name: 'uncompressed, many pages', c: pw.Compression.UNCOMPRESSED, page: 1024, v: pw.WriterVersion.V1 },
  { name: 'snappy, many pages', c: pw.Compression.SNAPPY, page: 1024, v: pw.WriterVersion.V1 },
  { name: 'snappy, V2 pages', c: pw.Compression.SNAPPY, page: 2048, v: pw.WriterVersion.V2 },
];

for (const nullable of [false, true]) {
  for (const k of cases) {
    test(`plainValues: ${k.name}, ${nullable ? 'OPTIONAL' : 'REQUIRED'}: the decoder's values, own memory or the caller's`, async () => {
      const file = parquet(k.c, k.page, k.v, nullable);
      const buf = file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength) as ArrayBuffer;
      const md = parquetMetadata(buf);
      const rows = await parquetReadObjects({ file: buf, columns: ['a', 'b'] }) as { a: number; b: number }[];
      assert.equal(md.row_groups.length, 1);
      const group = md.row_groups[0]!;
      const [lo, hi] = rowGroupRange(group);
      const bytes = new Uint8Array(buf, lo, hi - lo);
      let taken = 0;
      const arena = new ArrayBuffer(ROWS * 16 + 64);
      const alloc = (n: number) => { const at = taken; taken += Math.ceil(n / 8) * 8; return new Uint8Array(arena, at, n); };
      for (const [name, want] of [['a', Float32Array], ['b', Float64Array]] as const) {
        const chunk = group.columns.find((c) => c.meta_data?.path_in_schema[0] === name)!;
        const element = md.schema.find((e) => e.name === name)!;
        for (const a of [undefined, alloc]) {
          const got = plainValues(bytes, lo, chunk, element, ROWS, a);
          assert.ok(got instanceof want, `${name}: ${got?.constructor.name}`);
          assert.equal(got.length, ROWS);
          for (let i = 0; i < ROWS; i++) assert.equal(got[i], rows[i]![name], `${name}[${i}]`);
          // Views of the page or of the caller's memory, never of some other buffer.
          assert.ok(got.buffer === bytes.buffer || got.buffer === arena || a === undefined, `${name}: an unexpected buffer`);
        }
      }
    });
  }
}

test('plainValues: a dictionary-encoded or integer column is not the simple kind (undefined)', () => {
  loadParquetWasm();
  const table = new arrow.Table({ a: arrow.makeVector(Float32Array.from({ length: 100 }, (_, i) => i % 4)), n: arrow.makeVector(Int32Array.from({ length: 100 }, (_, i) => i)) });
  const props = new pw.WriterPropertiesBuilder().setDictionaryEnabled(true).build();
  const file = pw.writeParquet(pw.Table.fromIPCStream(arrow.tableToIPC(table, 'stream')), props);
  const buf = file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength) as ArrayBuffer;
  const md = parquetMetadata(buf);
  const group = md.row_groups[0]!;
  const [lo, hi] = rowGroupRange(group);
  for (const name of ['a', 'n']) {
    const chunk = group.columns.find((c) => c.meta_data?.path_in_schema[0] === name)!;
    assert.equal(plainValues(new Uint8Array(buf, lo, hi - lo), lo, chunk, md.schema.find((e) => e.name === name)!, 100), undefined, name);
  }
});
