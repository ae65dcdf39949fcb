// Batch runs in-process (workers: 0 path) on real Parquet files: outputs row by row against
// Model.predict, partitions, manifest statistics, bad inputs, and output validation.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parquetMetadata } from 'hyparquet';
import { createEngine, type Engine, type Model } from '../../src/index.ts';
import { parseBatchConfig } from '../../src/batch/config.ts';
import { runBatch, BatchUsageError, type BatchRunOptions } from '../../src/batch/run.ts';
import { featureInput, validateScores } from '../../src/batch/score.ts';
import { UnitRunner } from '../../src/batch/unit.ts';
import type { Manifest } from '../../src/batch/manifest.ts';
import { nodeBatchHost } from '../../runtimes/native/batch-io.ts';
import { startBatchPool } from '../../runtimes/native/batch-pool.ts';
import { createNativeRuntime } from '../../runtimes/native/runtime.ts';
import { FEATURES, MODEL, MODEL_CONFIG, RECORDS, readOutput, tempDir, writeInput } from './fixtures.ts';

let engine: Engine;
let model: Model;
const dirs: string[] = [];
const host = nodeBatchHost();

before(async () => {
  engine = createEngine(createNativeRuntime());
  model = await engine.models.load({ source: MODEL, config: MODEL_CONFIG, backend: 'cpu' });
});
after(async () => {
  await engine.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function options(dir: string, inputs: string[], extra: Partial<BatchRunOptions> = {}): BatchRunOptions {
  const fi = featureInput(model);
  return {
    inputs, outDir: join(dir, 'out'), config: parseBatchConfig({ model: { path: MODEL }, unitRows: 64, batchSize: 50 }),
    model: { name: model.name, version: model.version, features: fi.features }, newRunId: () => 'run-0001-test',
    executor: async (s) => { const r = new UnitRunner(model, fi, host, s); return { capacity: 2, run: (u) => r.run(u), close: async () => {} }; },
    ...extra,
  };
}

describe('batch run (in-process)', () => {
  test('every input row appears once with the prediction Model.predict gives', async () => {
    const dir = tempDir(); dirs.push(dir);
    const ids = RECORDS.map((_, i) => i);
    writeInput(join(dir, 'in/a.parquet'), ids.slice(0, 300), { rowGroupSize: 100 });
    writeInput(join(dir, 'in/b.parquet'), ids.slice(300), { rowGroupSize: 128 });
    const summary = await runBatch(options(dir, [join(dir, 'in/a.parquet'), join(dir, 'in/b.parquet')]), host);
    assert.equal(summary.status, 'committed');
    const rows = await readOutput(join(dir, 'out'));
    assert.equal(rows.length, RECORDS.length);
    const expected = await model.predict(RECORDS);
    const byId = new Map(rows.map((r) => [Number(r['id']), r]));
    assert.equal(byId.size, RECORDS.length, 'ids are unique');
    for (const [i, e] of expected.entries()) {
      const r = byId.get(i)!;
      assert.equal(r['prediction'], e.prediction, `row ${i} prediction`);
      assert.ok(Math.abs((r['probability'] as number) - e.probability!) < 1e-6, `row ${i} probability`);
      assert.equal(r['prediction_run_id'], 'run-0001-test');
      assert.ok(r['prediction_timestamp'] instanceof Date);
      for (const f of FEATURES.slice(0, 3)) assert.equal(r[f], RECORDS[i]![f]);
    }
    // Input types carry over from the input schema (integral doubles stay DOUBLE).
    const meta = parquetMetadata(new Uint8Array(readFileSync(rows[0]!['_file'] as string)).buffer);
    const types = Object.fromEntries(meta.schema.slice(1).map((e) => [e.name, e.type]));
    assert.deepEqual([types['id'], types['ts'], types['segment'], types['prediction'], types['prediction_timestamp']], ['INT64', 'DOUBLE', 'BYTE_ARRAY', 'DOUBLE', 'INT64']);
    const m = JSON.parse(readFileSync(join(dir, 'out/_manifest.json'), 'utf8')) as Manifest;
    assert.equal(m.status, 'committed');
    assert.equal(m.rows, RECORDS.length);
    assert.equal(Object.keys(m.units).length, m.unitsPlanned);
    const preds = expected.map((e) => e.prediction!);
    assert.equal(m.stats.count, preds.length);
    assert.ok(Math.abs(m.stats.mean! - preds.reduce((a, b) => a + b) / preds.length) < 1e-12);
    assert.equal(m.stats.min, Math.min(...preds));
    assert.equal(m.stats.max, Math.max(...preds));
  });

  test('partitions: one directory per value, with per-partition statistics', async () => {
    const dir = tempDir(); dirs.push(dir);
    writeInput(join(dir, 'in/a.parquet'), RECORDS.map((_, i) => i));
    const summary = await runBatch(options(dir, [join(dir, 'in/a.parquet')], { partitionBy: 'segment' }), host);
    assert.equal(summary.status, 'committed');
    assert.deepEqual(readdirSync(join(dir, 'out')).sort(), ['_manifest.json', 'segment=a', 'segment=b', 'segment=c']);
    const rows = await readOutput(join(dir, 'out'));
    for (const r of rows) assert.ok((r['_file'] as string).includes(`/segment=${r['segment']}/`));
    const m = summary.manifest!;
    const parts = m.stats.partitions;
    assert.equal(parts['segment=a']!.count + parts['segment=b']!.count + parts['segment=c']!.count, RECORDS.length);
    assert.equal(parts['segment=a']!.count, rows.filter((r) => r['segment'] === 'a').length);
  });

  test('a corrupt file is reported as failed while the others complete', async () => {
    const dir = tempDir(); dirs.push(dir);
    writeInput(join(dir, 'in/good.parquet'), [1, 2, 3]);
    writeFileSync(join(dir, 'in/bad.parquet'), 'PAR1 this is not parquet at all PAR1');
    const summary = await runBatch(options(dir, [join(dir, 'in/bad.parquet'), join(dir, 'in/good.parquet')]), host);
    assert.equal(summary.status, 'failed');
    assert.equal(summary.manifest!.failedInputs.length, 1);
    assert.match(summary.manifest!.failedInputs[0]!.message, /bad\.parquet: not a readable Parquet file/);
    assert.equal((await readOutput(join(dir, 'out'))).length, 3);
  });

  test('damage inside a readable file: a garbled page header or a NaN in the values fails only its unit, with a named error', async () => {
    const dir = tempDir(); dirs.push(dir);
    const ids = Array.from({ length: 150 }, (_, i) => i);
    // Row groups of 50 (units of whole row groups: the page-view fast path).
    writeInput(join(dir, 'in/a.parquet'), ids, { rowGroupSize: 50 });
    writeInput(join(dir, 'in/b.parquet'), ids.map((i) => 1000 + i), { rowGroupSize: 50 });
    const chunk = (file: string, rg: number, col: string) => {
      const md = parquetMetadata(new Uint8Array(readFileSync(file)).buffer);
      return md.row_groups[rg]!.columns.find((c) => c.meta_data!.path_in_schema[0] === col)!.meta_data!;
    };
    // a.parquet, row group 1: the page header of mean_radius overwritten with 0xff.
    const a = new Uint8Array(readFileSync(join(dir, 'in/a.parquet')));
    const ha = Number(chunk(join(dir, 'in/a.parquet'), 1, 'mean_radius').data_page_offset);
    a.fill(0xff, ha, ha + 12);
    writeFileSync(join(dir, 'in/a.parquet'), a);
    // b.parquet, row group 2: the last value of worst_area made a NaN (page intact).
    const b = new Uint8Array(readFileSync(join(dir, 'in/b.parquet')));
    const cb = chunk(join(dir, 'in/b.parquet'), 2, 'worst_area');
    const end = Number(cb.data_page_offset) + Number(cb.total_compressed_size);
    new DataView(b.buffer).setFloat64(end - 8, NaN, true);
    writeFileSync(join(dir, 'in/b.parquet'), b);
    const summary = await runBatch(options(dir, [join(dir, 'in/a.parquet'), join(dir, 'in/b.parquet')]), host);
    assert.equal(summary.status, 'failed');
    const m = summary.manifest!;
    assert.deepEqual(m.failedInputs, []);
    const failed = m.failedUnits.map((u) => u.message).sort();
    assert.equal(failed.length, 2, JSON.stringify(m.failedUnits));
    assert.match(failed[0]!, /a\.parquet rows 50\.\.100: the pages could not be decoded: ./);
    assert.match(failed[1]!, /b\.parquet rows 100\.\.150: row 149: column "worst_area" is NaN/);
    assert.deepEqual(m.failedUnits.map((u) => u.code).sort(), ["CORRUPT_PARQUET", "INVALID_FEATURE_VALUE"]);
    // Every other row scored once.
    const rows = await readOutput(join(dir, 'out'));
    const got = rows.map((r) => Number(r['id'])).sort((x, y) => x - y);
    const want = [...ids.filter((i) => i < 50 || i >= 100), ...ids.filter((i) => i < 100).map((i) => 1000 + i)].sort((x, y) => x - y);
    assert.deepEqual(got, want);
  });

  test('a garbled page in a unit decoded column by column (incremental run) is CORRUPT_PARQUET too, never handed to parquet-wasm', async () => {
    const dir = tempDir(); dirs.push(dir);
    const ids = Array.from({ length: 150 }, (_, i) => i);
    writeInput(join(dir, 'in/a.parquet'), ids, { rowGroupSize: 50 });
    const file = join(dir, 'in/a.parquet');
    const bytes = new Uint8Array(readFileSync(file));
    const md = parquetMetadata(bytes.buffer);
    const at = Number(md.row_groups[2]!.columns.find((c) => c.meta_data!.path_in_schema[0] === 'mean_texture')!.meta_data!.data_page_offset);
    bytes.fill(0xff, at, at + 12);
    writeFileSync(file, bytes);
    // parquet-wasm panics (RuntimeError: unreachable, uncaught) on such pages: it must not be reached.
    const summary = await runBatch(options(dir, [file], { incremental: { column: 'ts' } }), host);
    assert.equal(summary.status, 'failed');
    assert.deepEqual(summary.manifest!.failedUnits.map((u) => [u.code, /rows 100\.\.150: the pages could not be decoded/.test(u.message)]), [['CORRUPT_PARQUET', true]]);
    assert.equal((await readOutput(join(dir, 'out'))).length, 100);
  });

  // Units that are not a whole row group copied as it is (a row group split into several
  // units, rows dropped by the watermark, rows split over partitions) decode every column,
  // not only the features: through hyparquet too, so a damaged page in any column is
  // CORRUPT_PARQUET for the units that read it, in the main thread and in workers alike
  // (parquet-wasm panics on such pages, uncaught: a dead worker, or a dead process with workers: 0).
  const damagePage = (file: string, rg: number, col: string) => {
    const bytes = new Uint8Array(readFileSync(file));
    const md = parquetMetadata(bytes.buffer);
    const at = Number(md.row_groups[rg]!.columns.find((c) => c.meta_data!.path_in_schema[0] === col)!.meta_data!.data_page_offset);
    bytes.fill(0xff, at, at + 12);
    writeFileSync(file, bytes);
  };
  const runDamaged = async (workers: number, o: BatchRunOptions) => {
    if (workers === 0) return { summary: await runBatch(o, host), died: 0 };
    const pool = startBatchPool({ path: MODEL, config: MODEL_CONFIG, backend: 'cpu' }, workers);
    try {
      const summary = await runBatch({ ...o, executor: (s) => pool.executor(s) }, host);
      return { summary, died: pool.replaced() };
    } finally {
      await pool.close();
    }
  };
  const checkDamaged = async (dir: string, r: Awaited<ReturnType<typeof runDamaged>>, failed: string[], ids: number[]) => {
    assert.equal(r.died, 0, 'no worker died');
    assert.equal(r.summary.status, 'failed');
    const m = r.summary.manifest!;
    assert.deepEqual(m.failedInputs, []);
    assert.deepEqual(m.failedUnits.map((u) => u.code), failed.map(() => 'CORRUPT_PARQUET'), JSON.stringify(m.failedUnits));
    assert.deepEqual(m.failedUnits.map((u) => u.message.replace(/^.*\/in\//, '').replace(/: the pages could not be decoded: .+$/, '')).sort(), [...failed].sort());
    const rows = await readOutput(join(dir, 'out'));
    assert.deepEqual(rows.map((x) => Number(x['id'])).sort((x, y) => x - y), [...ids].sort((x, y) => x - y));
    const expected = await model.predict(RECORDS);
    for (const x of rows) assert.equal(x['prediction'], expected[Number(x['id']) % RECORDS.length]!.prediction, `row ${x['id']}`);
  };
  const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
  for (const workers of [0, 2]) {
    test(`a damaged page in a row group split into several units is CORRUPT_PARQUET for its units, the others are scored (workers: ${workers})`, { timeout: 120_000 }, async () => {
      const dir = tempDir(); dirs.push(dir);
      const [a, b] = [join(dir, 'in/a.parquet'), join(dir, 'in/b.parquet')];
      writeInput(a, range(0, 200), { rowGroupSize: 100 });
      writeInput(b, range(1000, 1100), { rowGroupSize: 100 });
      damagePage(a, 1, 'mean_radius');
      const o = options(dir, [a, b], { config: parseBatchConfig({ model: { path: MODEL }, unitRows: 25, batchSize: 50 }) });
      const r = await runDamaged(workers, o);
      assert.equal(r.summary.manifest!.unitsPlanned, 12);
      await checkDamaged(dir, r, ['a.parquet rows 100..125', 'a.parquet rows 125..150', 'a.parquet rows 150..175', 'a.parquet rows 175..200'], [...range(0, 100), ...range(1000, 1100)]);
    });

    test(`a damaged page of a column scoring does not need, in a unit the watermark drops rows of, is CORRUPT_PARQUET (workers: ${workers})`, { timeout: 120_000 }, async () => {
      const dir = tempDir(); dirs.push(dir);
      const [a, b] = [join(dir, 'in/a.parquet'), join(dir, 'in/b.parquet')];
      // Odd ids have no event time (NaN): every unit drops them, then decodes every column of its rows.
      const ts = (i: number) => (i % 2 ? NaN : 1000 + i);
      writeInput(a, range(0, 150), { rowGroupSize: 50, ts });
      writeInput(b, range(1000, 1050), { rowGroupSize: 50, ts });
      damagePage(a, 1, 'segment');
      const r = await runDamaged(workers, options(dir, [a, b], { incremental: { column: 'ts' } }));
      await checkDamaged(dir, r, ['a.parquet rows 50..100'], [...range(0, 50), ...range(100, 150), ...range(1000, 1050)].filter((i) => i % 2 === 0));
    });

    test(`a damaged page of a column scoring does not need, in a unit split over partitions, is CORRUPT_PARQUET (workers: ${workers})`, { timeout: 120_000 }, async () => {
      const dir = tempDir(); dirs.push(dir);
      const [a, b] = [join(dir, 'in/a.parquet'), join(dir, 'in/b.parquet')];
      writeInput(a, range(0, 150), { rowGroupSize: 50 });
      writeInput(b, range(1000, 1050), { rowGroupSize: 50 });
      damagePage(a, 1, 'id');
      const r = await runDamaged(workers, options(dir, [a, b], { partitionBy: 'segment' }));
      await checkDamaged(dir, r, ['a.parquet rows 50..100'], [...range(0, 50), ...range(100, 150), ...range(1000, 1050)]);
      assert.deepEqual(readdirSync(join(dir, 'out')).sort(), ['_manifest.json', 'segment=a', 'segment=b', 'segment=c']);
    });
  }

  test('a page type garbled into one hyparquet does not know ("unsupported page type") is damage, not a fallback to parquet-wasm', { timeout: 120_000 }, async () => {
    const dir = tempDir(); dirs.push(dir);
    const a = join(dir, 'in/a.parquet');
    writeInput(a, range(0, 150), { rowGroupSize: 50 });
    const bytes = new Uint8Array(readFileSync(a));
    const at = Number(parquetMetadata(bytes.buffer).row_groups[1]!.columns.find((c) => c.meta_data!.path_in_schema[0] === 'mean_radius')!.meta_data!.data_page_offset);
    assert.equal(bytes[at], 0x15, 'the header starts with field 1, an i32: the page type');
    bytes[at + 1] = 0x12; // page type 9: none
    writeFileSync(a, bytes);
    // Whole row groups (the page-view fast path), then the same groups split into units of 25 rows.
    for (const [out, unitRows, failed] of [['out', 64, ['a.parquet rows 50..100']], ['out-split', 25, ['a.parquet rows 50..75', 'a.parquet rows 75..100']]] as const) {
      const summary = await runBatch({ ...options(dir, [a]), outDir: join(dir, out), config: parseBatchConfig({ model: { path: MODEL }, unitRows, batchSize: 50 }) }, host);
      // Units finish in any order (in parallel): compare them sorted.
      assert.deepEqual(summary.manifest!.failedUnits.map((u) => [u.code, u.message.replace(/^.*\/in\//, '').replace(/: the pages could not be decoded: parquet unsupported page type: undefined$/, '')]).sort(),
        failed.map((f) => ['CORRUPT_PARQUET', f]));
      assert.deepEqual((await readOutput(join(dir, out))).map((x) => Number(x['id'])).sort((x, y) => x - y), [...range(0, 50), ...range(100, 150)]);
    }
  });

  test('a missing feature column is an error before any scoring', async () => {
    const dir = tempDir(); dirs.push(dir);
    writeInput(join(dir, 'in/a.parquet'), [1, 2, 3]);
    writeInput(join(dir, 'in/b.parquet'), [4, 5], { drop: 'worst_area' });
    await assert.rejects(runBatch(options(dir, [join(dir, 'in/a.parquet'), join(dir, 'in/b.parquet')]), host),
      (e: Error & { code?: string }) => e.code === 'MISSING_FEATURE' && /b\.parquet: missing column "worst_area"/.test(e.message));
    assert.equal(existsSync(join(dir, 'out')), false, 'nothing written');
  });

  test('an unfinished run needs --resume; a committed one refuses a second plain run', async () => {
    const dir = tempDir(); dirs.push(dir);
    writeInput(join(dir, 'in/a.parquet'), [1, 2, 3]);
    const o = options(dir, [join(dir, 'in/a.parquet')]);
    await runBatch(o, host);
    await assert.rejects(runBatch(o, host), BatchUsageError);
    assert.equal((await runBatch({ ...o, resume: true }, host)).status, 'already-done');
  });

  test('validation fail / warn / off on a unit whose model output is NaN', async () => {
    const dir = tempDir(); dirs.push(dir);
    const { parquetWriteBuffer } = await import('hyparquet-writer');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'in'), { recursive: true });
    // Features of 3e38 overflow float32 arithmetic inside the model: NaN logit, NaN probability.
    writeFileSync(join(dir, 'in/x.parquet'), new Uint8Array(parquetWriteBuffer({ columnData: [
      { name: 'id', data: BigInt64Array.of(0n, 1n, 2n) },
      ...FEATURES.map((f) => ({ name: f, data: Float64Array.of(RECORDS[0]![f]!, 3e38, RECORDS[2]![f]!) })),
    ] })));
    const run = (validation: string, out: string) => runBatch({ ...options(dir, [join(dir, 'in/x.parquet')]), outDir: join(dir, out),
      config: parseBatchConfig({ model: { path: MODEL }, validation }) }, host);
    const failed = await run('fail', 'out-fail');
    assert.equal(failed.status, 'failed');
    assert.equal(failed.manifest!.failedUnits[0]!.code, 'INVALID_OUTPUT');
    assert.match(failed.manifest!.failedUnits[0]!.message, /1 of 3 rows have invalid outputs \(first: row 1: probability is NaN, outside \[0,1\]\)/);
    const warned = await run('warn', 'out-warn');
    assert.equal(warned.status, 'committed');
    assert.equal(warned.manifest!.rows, 3);
    assert.match(Object.values(warned.manifest!.units)[0]!.warning ?? '', /INVALID_OUTPUT: 1 of 3 rows/);
    const off = await run('off', 'out-off');
    assert.equal(off.status, 'committed');
    assert.equal(Object.values(off.manifest!.units)[0]!.warning, undefined);
  });

  test('output validation: NaN predictions and probabilities outside [0,1] are reported', () => {
    const ok = { prediction: Float64Array.of(0, 1), probability: Float64Array.of(0.2, 0.9), hasProbability: true };
    assert.equal(validateScores(ok), undefined);
    const bad = { prediction: Float64Array.of(0, NaN, 1), probability: Float64Array.of(0.2, 0.5, 1.5), hasProbability: true };
    assert.equal(validateScores(bad, 100), '2 of 3 rows have invalid outputs (first: row 101: prediction is NaN)');
    const noProb = { prediction: Float64Array.of(3), probability: Float64Array.of(NaN), hasProbability: false };
    assert.equal(validateScores(noProb), undefined);
  });
});
