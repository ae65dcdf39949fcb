// Batch scoring of a model fed through more than one input, of more than one dtype: the
// wine-mixed fixture (13 float32 measurements + 3 int64 bucket ids), and wine-categorical's
// string input from a string column. Columns fill each input; integer inputs take integral
// values in range, checked and named per value. In-process (scoreColumns, runBatch) and as the
// `omniserve batch` process with a worker thread.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parquetWriteBuffer, type ColumnSource } from 'hyparquet-writer';
import { createEngine, type Engine, type Model } from '../../src/index.ts';
import { parseBatchConfig } from '../../src/batch/config.ts';
import { runBatch } from '../../src/batch/run.ts';
import { featureInput, scoreColumns } from '../../src/batch/score.ts';
import { UnitRunner } from '../../src/batch/unit.ts';
import { isOmniserveError } from '../../src/errors.ts';
import { nodeBatchHost } from '../../runtimes/native/batch-io.ts';
import { createNativeRuntime } from '../../runtimes/native/runtime.ts';
import { ROOT, readOutput, tempDir } from './fixtures.ts';

const MODEL = join(ROOT, 'test/fixtures/models/wine-mixed.onnx');
const CONFIG = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/models/wine-mixed.config.json'), 'utf8')) as unknown;
const golden = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/goldens/wine-mixed.json'), 'utf8')) as {
  records: Record<string, number>[];
  outputs: { logits: { data: number[] } };
};
const RECORDS = golden.records;
const NUMERIC = ['alcohol', 'malic_acid', 'ash', 'alcalinity_of_ash', 'magnesium', 'total_phenols', 'flavanoids', 'nonflavanoid_phenols',
  'proanthocyanins', 'color_intensity', 'hue', 'od280_od315_of_diluted_wines', 'proline'];
const BUCKETS = ['alcohol_bucket', 'flavanoids_bucket', 'color_intensity_bucket'];

let engine: Engine;
let model: Model;
const dirs: string[] = [];
before(async () => {
  engine = createEngine(createNativeRuntime());
  model = await engine.models.load({ source: MODEL, config: CONFIG, backend: 'cpu' });
});
after(async () => {
  await engine.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Argmax of the golden logits of row `i`: the class the model gives. */
const goldenClass = (i: number) => {
  const l = golden.outputs.logits.data.slice(i * 3, i * 3 + 3);
  return l.indexOf(Math.max(...l));
};

describe('batch scoring, several inputs', () => {
  test('featureInput lays out every input\'s columns, input by input, with its dtype', () => {
    const fi = featureInput(model);
    assert.deepEqual(fi.features, [...NUMERIC, ...BUCKETS]);
    assert.deepEqual(fi.inputs.map((i) => [i.input, i.dtype, i.from, i.features.length]), [['numeric', 'float32', 0, 13], ['buckets', 'int64', 13, 3]]);
  });

  test('scoreColumns fills the float and the int64 input from columns: what Model.predict gives, the golden classes', async () => {
    const fi = featureInput(model);
    const cols = fi.features.map((f) => Float64Array.from(RECORDS, (r) => r[f]!));
    const s = await scoreColumns(model, fi, cols, RECORDS.length, 10, 1000);
    const want = await model.predict(RECORDS);
    for (let i = 0; i < RECORDS.length; i++) {
      assert.equal(s.prediction[i], want[i]!.prediction, `row ${i}`);
      assert.ok(Math.abs(s.probability[i]! - want[i]!.probability!) < 1e-9, `row ${i}`);
      assert.equal(s.prediction[i], goldenClass(i), `row ${i}: the golden class`);
    }
    // The bucket ids are what moved the answer: shifting them changes some predictions.
    const shifted = cols.map((c, j) => (j >= 13 ? c.map((x) => (x + 4) % 8) : c));
    const t = await scoreColumns(model, fi, shifted, RECORDS.length, 10, 1000);
    assert.ok(t.probability.some((p, i) => Math.abs(p - s.probability[i]!) > 1e-3), 'the int64 input reaches the model');
  });

  test('an integer input refuses a fraction, a value out of range and a NaN, naming row and column', async () => {
    const fi = featureInput(model);
    const cols = () => fi.features.map((f) => Float64Array.from(RECORDS, (r) => r[f]!));
    const bad = async (column: string, row: number, value: number, message: string) => {
      const c = cols();
      c[fi.features.indexOf(column)]![row] = value;
      await assert.rejects(scoreColumns(model, fi, c, RECORDS.length, 10, 1000), (e: unknown) =>
        isOmniserveError(e, 'INVALID_FEATURE_VALUE') && e.message === message && e.details?.['feature'] === column && e.details['row'] === 1000 + row,
      `${column} = ${value}`);
    };
    await bad('flavanoids_bucket', 7, 2.5, 'row 1007: column "flavanoids_bucket" is 2.5; int64 needs an integer');
    await bad('alcohol_bucket', 21, 2 ** 60, `row 1021: column "alcohol_bucket" is ${2 ** 60}; int64 holds ${Number.MIN_SAFE_INTEGER}..${Number.MAX_SAFE_INTEGER}`);
    await bad('color_intensity_bucket', 30, NaN, 'row 1030: column "color_intensity_bucket" is NaN; features must be finite numbers');
  });

  test('a string input is fed from a string column (wine-categorical: five measurements and a colour band)', async () => {
    const config = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/models/wine-categorical.config.json'), 'utf8')) as unknown;
    const m = await engine.models.load({ source: join(ROOT, 'test/fixtures/models/wine-categorical.onnx'), config, backend: 'cpu' });
    const records = (JSON.parse(readFileSync(join(ROOT, 'test/fixtures/goldens/wine-categorical.json'), 'utf8')) as { records: Record<string, number | string>[] }).records;
    const fi = featureInput(m);
    assert.deepEqual(fi.inputs.map((i) => [i.input, i.dtype, i.from]), [['numeric', 'float32', 0], ['color_band', 'string', 5]]);
    const cols = fi.features.map((f) => (f === 'color_band' ? records.map((r) => r[f] as string) : Float64Array.from(records, (r) => r[f] as number)));
    const s = await scoreColumns(m, fi, cols, records.length, 7);
    const want = await m.predict(records);
    for (let i = 0; i < records.length; i++) assert.ok(Math.abs(s.probability[i]! - want[i]!.probability!) < 1e-9 && s.prediction[i] === want[i]!.prediction, `row ${i}`);
    // The band is what the string input carries: another band moves the probabilities.
    const other = cols.map((c, j) => (j === 5 ? (c as string[]).map((b) => (b === 'pale' ? 'deep' : 'pale')) : c));
    const t = await scoreColumns(m, fi, other, records.length, 7);
    assert.ok(t.probability.some((p, i) => Math.abs(p - s.probability[i]!) > 1e-3), 'the string input reaches the model');

    // Through runBatch: the band as a Parquet STRING column; as numbers it is refused, named.
    const write = (path: string, band: 'text' | 'number') => {
      const cols: ColumnSource[] = [{ name: 'id', data: BigInt64Array.from(records, (_, i) => BigInt(i)) }];
      for (const f of fi.inputs[0]!.features) cols.push({ name: f, data: Float64Array.from(records, (r) => r[f] as number) });
      cols.push(band === 'text' ? { name: 'color_band', data: records.map((r) => r['color_band'] as string), type: 'STRING' } : { name: 'color_band', data: Float64Array.from(records, (_, i) => i) });
      mkdirSync(join(path, '..'), { recursive: true });
      writeFileSync(path, new Uint8Array(parquetWriteBuffer({ columnData: cols, rowGroupSize: 10 })));
    };
    const host = nodeBatchHost();
    const run = (dir: string) => runBatch({
      inputs: [join(dir, 'in/w.parquet')], outDir: join(dir, 'out'), config: parseBatchConfig({ model: { path: MODEL }, unitRows: 10, batchSize: 4 }),
      model: { name: m.name, version: m.version, features: fi.features }, newRunId: () => 'run-band-0001',
      executor: async (st) => { const r = new UnitRunner(m, fi, host, st); return { capacity: 1, run: (u) => r.run(u), close: async () => {} }; },
    }, host);
    const dir = tempDir(); dirs.push(dir);
    write(join(dir, 'in/w.parquet'), 'text');
    const ok = await run(dir);
    assert.equal(ok.status, 'committed');
    const out = await readOutput(join(dir, 'out'));
    assert.equal(out.length, records.length);
    for (const r of out) assert.equal(r['prediction'], want[Number(r['id'])]!.prediction, `id ${r['id']}`);
    const bad = tempDir(); dirs.push(bad);
    write(join(bad, 'in/w.parquet'), 'number');
    const summary = await run(bad);
    assert.notEqual(summary.status, 'committed');
    const manifest = readFileSync(join(bad, 'out/_manifest.json'), 'utf8');
    assert.match(manifest, /column \\"color_band\\" is Float64; it feeds a string input: features must be strings/);
  });

  /** The golden rows `copies` times over as Parquet: the buckets as INT32, INT64 and DOUBLE columns. */
  const writeWine = (path: string, copies: number, rowGroupSize: number) => {
    const rows = Array.from({ length: RECORDS.length * copies }, (_, i) => RECORDS[i % RECORDS.length]!);
    const cols: ColumnSource[] = [{ name: 'id', data: BigInt64Array.from(rows, (_, i) => BigInt(i)) }];
    for (const f of NUMERIC) cols.push({ name: f, data: Float64Array.from(rows, (r) => r[f]!) });
    cols.push({ name: 'alcohol_bucket', data: Int32Array.from(rows, (r) => r['alcohol_bucket']!) });
    cols.push({ name: 'flavanoids_bucket', data: BigInt64Array.from(rows, (r) => BigInt(r['flavanoids_bucket']!)) });
    cols.push({ name: 'color_intensity_bucket', data: Float64Array.from(rows, (r) => r['color_intensity_bucket']!) });
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, new Uint8Array(parquetWriteBuffer({ columnData: cols, rowGroupSize })));
    return rows;
  };

  test('runBatch over Parquet with integer and double bucket columns: every row once, as Model.predict scores it', async () => {
    const dir = tempDir(); dirs.push(dir);
    const rows = writeWine(join(dir, 'in/wine.parquet'), 4, 50);
    const fi = featureInput(model);
    const host = nodeBatchHost();
    const summary = await runBatch({
      inputs: [join(dir, 'in/wine.parquet')], outDir: join(dir, 'out'), config: parseBatchConfig({ model: { path: MODEL }, unitRows: 40, batchSize: 16 }),
      model: { name: model.name, version: model.version, features: fi.features }, newRunId: () => 'run-wine-0001',
      executor: async (s) => { const r = new UnitRunner(model, fi, host, s); return { capacity: 2, run: (u) => r.run(u), close: async () => {} }; },
    }, host);
    assert.equal(summary.status, 'committed');
    const out = await readOutput(join(dir, 'out'));
    assert.equal(out.length, rows.length);
    const want = await model.predict(RECORDS);
    for (const r of out) {
      const id = Number(r['id']);
      assert.equal(r['prediction'], want[id % RECORDS.length]!.prediction, `id ${id}`);
      assert.ok(Math.abs((r['probability'] as number) - want[id % RECORDS.length]!.probability!) < 1e-9, `id ${id}`);
    }
  });

  test('omniserve batch (a worker thread) scores the same file', { timeout: 120_000 }, async () => {
    const dir = tempDir(); dirs.push(dir);
    const rows = writeWine(join(dir, 'in/wine.parquet'), 3, 32);
    const config = join(dir, 'batch.json');
    writeFileSync(config, JSON.stringify({ batch: { model: { path: MODEL }, workers: 1, unitRows: 32 } }));
    const child = spawn(process.execPath, [join(ROOT, 'bin/omniserve.mjs'), 'batch', '--config', config, '--input', join(dir, 'in/*.parquet'), '--output', join(dir, 'out')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    const code = await new Promise<number | null>((res) => child.on('close', res));
    assert.equal(code, 0, err.slice(-2000));
    const out = await readOutput(join(dir, 'out'));
    assert.equal(out.length, rows.length);
    for (const r of out) assert.equal(r['prediction'], goldenClass(Number(r['id']) % RECORDS.length), `id ${r['id']}`);
  });
});
