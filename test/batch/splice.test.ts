// Column-chunk copy: a whole row group's input columns go to the output byte for byte and
// only the new columns are encoded. The file must read back (hyparquet and parquet-wasm)
// exactly as the decode/re-encode path writes it, for inputs from both writers.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as arrow from 'apache-arrow';
import * as pw from 'parquet-wasm/esm';
import { parquetMetadata } from 'hyparquet';
import { createEngine, type Engine, type Model } from '../../src/index.ts';
import { featureInput } from '../../src/batch/score.ts';
import { UnitRunner, type UnitSettings } from '../../src/batch/unit.ts';
import { planUnits } from '../../src/batch/plan.ts';
import { rowGroupRange, spliceParquet } from '../../src/batch/splice.ts';
import { predictionChunks } from '../../src/batch/new-columns.ts';
import { nodeBatchHost, loadParquetWasm } from '../../runtimes/native/batch-io.ts';
import { createNativeRuntime } from '../../runtimes/native/runtime.ts';
import { FEATURES, MODEL, MODEL_CONFIG, RECORDS, readOutput, tempDir, writeInput } from './fixtures.ts';

let engine: Engine;
let model: Model;
const dirs: string[] = [];
const host = nodeBatchHost();
before(async () => {
  loadParquetWasm();
  engine = createEngine(createNativeRuntime());
  model = await engine.models.load({ source: MODEL, config: MODEL_CONFIG, backend: 'cpu' });
});
after(async () => {
  await engine.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function score(file: string, outDir: string, copyColumns: boolean, extra: Partial<UnitSettings> = {}) {
  // batchSize below the row-group size: the copy path infers over views of one tensor.
  const s: UnitSettings = { runId: 'splice-run-0001', timestamp: new Date(1_700_000_000_000).toISOString(), outDir, batchSize: 100, validation: 'fail', compression: 'SNAPPY', copyColumns, ...extra };
  const runner = new UnitRunner(model, featureInput(model), host, s);
  const units = planUnits(file, parquetMetadata(new Uint8Array(readFileSync(file)).buffer), 1 << 20);
  const results = await Promise.all(units.map((u) => runner.run(u)));
  await runner.close();
  for (const r of results) assert.equal(r.error, undefined, JSON.stringify(r.error));
  return (await readOutput(outDir)).map(({ _file, ...row }) => row).sort((a, b) => Number(a['id']) - Number(b['id']));
}

test('copied column chunks read back exactly like re-encoded ones (hyparquet and parquet-wasm inputs)', async () => {
  const dir = tempDir(); dirs.push(dir);
  const ids = RECORDS.map((_, i) => i);
  // hyparquet-writer input: SNAPPY, a dictionary-encoded string column, INT64 ids.
  writeInput(join(dir, 'in/h.parquet'), ids, { rowGroupSize: 200 });
  // parquet-wasm input: uncompressed float32 features, page indexes and statistics on.
  const cols: Record<string, arrow.Vector> = { id: arrow.makeVector(BigInt64Array.from(ids, BigInt)), note: arrow.vectorFromArray(ids.map((i) => (i % 5 ? `n${i}` : null))) };
  for (const f of FEATURES) cols[f] = arrow.makeVector(Float32Array.from(ids, (i) => RECORDS[i]![f]!));
  writeFileSync(join(dir, 'in/w.parquet'), pw.writeParquet(pw.Table.fromIPCStream(arrow.tableToIPC(new arrow.Table(cols), 'stream')),
    new pw.WriterPropertiesBuilder().setMaxRowGroupSize(256).build()));
  // SNAPPY: the new columns by parquet-wasm; UNCOMPRESSED: by new-columns.ts.
  for (const [name, compression] of [['h', 'SNAPPY'], ['w', 'SNAPPY'], ['h', 'UNCOMPRESSED'], ['w', 'UNCOMPRESSED']] as const) {
    const file = join(dir, `in/${name}.parquet`);
    const copied = await score(file, join(dir, `out-${name}-${compression}-copy`), true, { compression });
    const encoded = await score(file, join(dir, `out-${name}-${compression}-enc`), false, { compression });
    assert.equal(copied.length, RECORDS.length);
    assert.deepEqual(copied, encoded, `${name}: same rows either way`);
    const expected = await model.predict(name === 'w' ? RECORDS.map((r) => Object.fromEntries(FEATURES.map((f) => [f, Math.fround(r[f]!)]))) : RECORDS);
    for (const row of copied) assert.equal(row['prediction'], expected[Number(row['id'])]!.prediction);
    // The Rust reader (strict about offsets and the footer) reads the copied file too.
    const { readdirSync } = await import('node:fs');
    const first = readdirSync(join(dir, `out-${name}-${compression}-copy`)).filter((n) => n.endsWith('.parquet')).sort()[0]!;
    const t = arrow.tableFromIPC(pw.readParquet(new Uint8Array(readFileSync(join(dir, `out-${name}-${compression}-copy`, first)))).intoIPCStream());
    assert.deepEqual(t.schema.fields.slice(-4).map((f) => f.name), ['prediction', 'probability', 'prediction_run_id', 'prediction_timestamp']);
    assert.equal(t.getChild('prediction_run_id')!.get(0), 'splice-run-0001');
    const id0 = Number(t.getChild('id')!.get(0));
    assert.equal(t.getChild('prediction')!.get(0), copied[id0]!['prediction']);
    assert.equal(t.getChild('prediction_timestamp')!.get(0), 1_700_000_000_000);
    assert.ok(/column chunks copied/.test(parquetMetadata(new Uint8Array(readFileSync(join(dir, `out-${name}-${compression}-copy`, first))).buffer).created_by ?? ''));
  }
});

test('new columns without an encoder: several pages, a model without probability; hyparquet and parquet-wasm read them as written', async () => {
  const dir = tempDir(); dirs.push(dir);
  const ids = RECORDS.map((_, i) => i);
  writeInput(join(dir, 'in/h.parquet'), ids, { rowGroupSize: 569 });
  const bytes = new Uint8Array(readFileSync(join(dir, 'in/h.parquet')));
  const meta = parquetMetadata(bytes.buffer);
  const rg = meta.row_groups[0]!;
  const [lo, hi] = rowGroupRange(rg);
  const prediction = Float64Array.from(ids, (i) => i * 0.5);
  for (const hasProbability of [true, false]) {
    const probability = Float64Array.from(ids, (i) => (hasProbability ? i / 1000 : NaN));
    // Pages of 100 rows: 6 pages per column, the last one short.
    const added = predictionChunks(569, { prediction, probability, hasProbability, runId: 'run-pages', timestamp: 1_700_000_000_123 }, 100);
    const file = join(dir, `out/part-${hasProbability}.parquet`);
    mkdirSync(join(dir, 'out'), { recursive: true });
    const pieces = spliceParquet(meta, rg, bytes.subarray(lo, hi), added, 'test');
    writeFileSync(file, Buffer.concat(pieces));
    const rows = (await readOutput(join(dir, 'out'))).filter((r) => r['_file'] === file);
    assert.equal(rows.length, 569);
    for (const r of rows) {
      const i = Number(r['id']);
      assert.equal(r['prediction'], i * 0.5);
      assert.equal(r['probability'], hasProbability ? i / 1000 : null);
      assert.equal(r['prediction_run_id'], 'run-pages');
      assert.equal((r['prediction_timestamp'] as Date).getTime(), 1_700_000_000_123);
    }
    const t = arrow.tableFromIPC(pw.readParquet(new Uint8Array(readFileSync(file))).intoIPCStream());
    assert.equal(t.numRows, 569);
    assert.equal(t.getChild('prediction')!.get(568), 568 * 0.5);
    assert.equal(t.getChild('probability')!.get(300), hasProbability ? 0.3 : null);
    assert.equal(t.getChild('prediction_run_id')!.get(568), 'run-pages');
    assert.equal(Number(t.getChild('prediction_timestamp')!.get(568)), 1_700_000_000_123);
    assert.equal(t.getChild('mean_area')!.get(7), RECORDS[7]!['mean_area']);
  }
});

test('copy path: a null feature value fails the unit naming the file row and column', async () => {
  const dir = tempDir(); dirs.push(dir);
  const ids = [0, 1, 2, 3];
  const cols: Record<string, arrow.Vector> = { id: arrow.makeVector(BigInt64Array.from(ids, BigInt)) };
  for (const f of FEATURES) cols[f] = arrow.vectorFromArray(ids.map((i) => (f === 'mean_area' && i === 2 ? null : RECORDS[i]![f]!)), new arrow.Float64());
  const file = join(dir, 'in/n.parquet');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(dir, 'in'), { recursive: true });
  writeFileSync(file, pw.writeParquet(pw.Table.fromIPCStream(arrow.tableToIPC(new arrow.Table(cols), 'stream'))));
  const runner = new UnitRunner(model, featureInput(model), host, { runId: 'null-run', timestamp: new Date(0).toISOString(), outDir: join(dir, 'out'), batchSize: 1000, validation: 'fail', compression: 'SNAPPY' });
  const [unit] = planUnits(file, parquetMetadata(new Uint8Array(readFileSync(file)).buffer), 1 << 20);
  const r = await runner.run(unit!);
  await runner.close();
  assert.equal(r.error?.code, 'INVALID_FEATURE_VALUE');
  assert.match(r.error!.message, /row 2: column "mean_area" is null/);
});

test('copy path: OPTIONAL float features without nulls (definition levels skipped) score like Model.predict', async () => {
  const dir = tempDir(); dirs.push(dir);
  const ids = RECORDS.map((_, i) => i).slice(0, 300);
  const cols: Record<string, arrow.Vector> = { id: arrow.makeVector(BigInt64Array.from(ids, BigInt)) };
  for (const f of FEATURES) cols[f] = arrow.vectorFromArray(ids.map((i) => RECORDS[i]![f]!), new arrow.Float64());
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(dir, 'in'), { recursive: true });
  const file = join(dir, 'in/o.parquet');
  writeFileSync(file, pw.writeParquet(pw.Table.fromIPCStream(arrow.tableToIPC(new arrow.Table(cols), 'stream')), new pw.WriterPropertiesBuilder().setMaxRowGroupSize(128).setDictionaryEnabled(false).setCompression(pw.Compression.SNAPPY).build()));
  assert.equal(parquetMetadata(new Uint8Array(readFileSync(file)).buffer).schema.find((e) => e.name === 'mean_area')!.repetition_type, 'OPTIONAL');
  const rows = await score(file, join(dir, 'out'), true);
  const expected = await model.predict(ids.map((i) => RECORDS[i]!));
  assert.equal(rows.length, ids.length);
  for (const r of rows) assert.equal(r['prediction'], expected[Number(r['id'])]!.prediction);
});
