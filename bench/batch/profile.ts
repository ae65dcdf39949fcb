/**
 * Where a batch unit's time goes, stage by stage, on one core, for the pipeline the batch
 * command runs (parquet-wasm read → Arrow columns → float32 tensor → inference →
 * column-wise post-processing → Arrow → parquet-wasm write) and, side by side in the same
 * run, the hyparquet read and hyparquet-writer encode of the first version.
 * Input: .tmp/bench-batch/in/part-000.parquet (bench/batch/run.ts writes it) or a
 * generated file of 4 row groups of 131,072 rows.
 * Usage: node --import tsx bench/batch/profile.ts [--units N] [--file F]
 * @module
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parquetMetadataAsync, parquetScan, type DecodedArray } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { createEngine } from '../../src/index.ts';
import { createNativeRuntime } from '../../runtimes/native/runtime.ts';
import { nodeBatchHost, openAsyncBuffer, writeAtomic } from '../../runtimes/native/batch-io.ts';
import { numericValues, openParquet } from '../../src/batch/arrow-io.ts';
import { encodeUnit } from '../../src/batch/output.ts';
import { featureInput, scoreColumns } from '../../src/batch/score.ts';
import { UnitRunner } from '../../src/batch/unit.ts';
import { planUnits } from '../../src/batch/plan.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MODEL = join(ROOT, 'test/fixtures/models/breast-cancer.onnx');
const modelConfig = JSON.parse(readFileSync(MODEL.replace(/\.onnx$/, '.config.json'), 'utf8'));
const FEATURES: string[] = modelConfig.inputs.features.features;
const { values } = parseArgs({ options: { units: { type: 'string', default: '8' }, file: { type: 'string' } } });
const RG = 131_072;
let path = values.file ?? join(ROOT, '.tmp/bench-batch/in/part-000.parquet');
if (!existsSync(path)) {
  path = join(ROOT, '.tmp/prof/in.parquet');
  mkdirSync(join(path, '..'), { recursive: true });
  const n = RG * 4;
  writeFileSync(path, new Uint8Array(parquetWriteBuffer({ rowGroupSize: RG, codec: 'UNCOMPRESSED', columnData: [
    { name: 'id', data: BigInt64Array.from({ length: n }, (_, i) => BigInt(i)) },
    { name: 'timestamp', data: Float64Array.from({ length: n }, (_, i) => 1.7e12 + i) },
    ...FEATURES.map((name, j) => ({ name, data: Float32Array.from({ length: n }, (_, i) => ((i * 7 + j) % 97) / 10) })),
  ] })));
}
mkdirSync(join(ROOT, '.tmp/prof'), { recursive: true });

const host = nodeBatchHost();
const engine = createEngine(createNativeRuntime());
const model = await engine.models.load({ source: MODEL, config: modelConfig, backend: 'cpu', session: { threads: 1 } });
const fi = featureInput(model);
const file = await openAsyncBuffer(path);
const metadata = await parquetMetadataAsync(file);
const leaves = metadata.schema.slice(1).filter((e) => e.num_children === undefined);
const names = leaves.map((e) => e.name);
const source = await openParquet(await host.blob(path));
const times: Record<string, number[]> = {};
const time = async <T>(k: string, f: () => T | Promise<T>): Promise<T> => {
  const t = performance.now();
  const r = await f();
  (times[k] ??= []).push(performance.now() - t);
  return r;
};
const ctx = { runId: '00000000-0000-0000-0000-000000000000', timestamp: new Date(), compression: 'UNCOMPRESSED' as const };
const groups = metadata.row_groups.length;
for (let u = 0; u < Number(values.units); u++) {
  const rg = u % groups;
  const rows = Number(metadata.row_groups[rg]!.num_rows);
  const rowStart = metadata.row_groups.slice(0, rg).reduce((n, g) => n + Number(g.num_rows), 0);
  const table = await time('read: parquet-wasm row group → Arrow', () => source.read(rg, 0, rows));
  const cols = await time('feature columns (zero-copy views)', () => FEATURES.map((f) => numericValues(table.getChild(f)!)!));
  const scores = await time('score: tensor + infer + post (scoreColumns, batch 131072)', () => scoreColumns(model, fi, cols, rows, RG));
  const data = new Float32Array(rows * FEATURES.length);
  await time('  of which infer alone (1 thread)', () => model.infer({ [fi.inputs[0]!.input]: { dtype: 'float32', data: data.fill(0.5), dims: [rows, FEATURES.length] } }));
  const parts = await time('encode: Arrow → parquet-wasm', () => encodeUnit(table, scores, ctx));
  await time('write: temporary file + rename', () => writeAtomic(join(ROOT, `.tmp/prof/out-${u}.parquet`), parts[0]!.bytes));
  // The first version's read and encode, same rows, same run.
  const old = await time('old read: hyparquet', async () => {
    const scan = await parquetScan({ file, metadata, columns: names });
    const c: Record<string, DecodedArray> = {};
    for (const n of names) c[n] = await scan.readColumn({ column: n, rowStart, rowEnd: rowStart + rows });
    return c;
  });
  await time('old encode: hyparquet-writer (PLAIN, no statistics)', () => parquetWriteBuffer({
    codec: 'UNCOMPRESSED', rowGroupSize: rows, statistics: false,
    columnData: [...leaves.map((e) => ({ name: e.name, data: old[e.name]!, type: e.type as 'INT64' | 'DOUBLE' | 'FLOAT', encoding: 'PLAIN' as const })), { name: 'prediction', data: scores.prediction, type: 'DOUBLE' as const, encoding: 'PLAIN' as const }],
  }));
}
source.close();
// The batch command's own unit (column-chunk copy path), timed by the runner itself.
const runner = new UnitRunner(model, fi, host, { ...ctx, timestamp: ctx.timestamp.toISOString(), outDir: join(ROOT, '.tmp/prof/units'), batchSize: 65_536, validation: 'fail' });
const units = planUnits(path, metadata, 1 << 20);
for (let u = 0; u < Number(values.units); u++) {
  const r = await runner.run(units[u % units.length]!);
  if (r.error) throw new Error(r.error.message);
  for (const [k, v] of Object.entries(r.ms!)) (times[`unit (copy path): ${k}`] ??= []).push(v);
}
await runner.close();
await engine.close();
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
for (const [k, v] of Object.entries(times)) console.log(`${k.padEnd(56)} median ${median(v).toFixed(0).padStart(4)} ms   (${v.map((x) => x.toFixed(0)).join(' ')})`);
