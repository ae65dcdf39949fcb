/**
 * Batch benchmark: N rows (id, timestamp, 30 float features) written as Parquet under
 * .tmp/bench-batch (never committed), then scored end to end by a real `omniserve batch`
 * process; compared with raw in-process inference (`model.infer` on prebuilt tensors) of
 * the same model in the same run. Peak memory: the batch process's VmHWM (all its threads).
 * The same input is then scored with larger MLPs generated at benchmark time
 * (bench/batch/mlp-model.py), each against its own raw inference, to show how the ratio moves
 * with the model's cost per row.
 * Usage: node --import tsx bench/batch/run.ts [--rows N] [--files F] [--workers W] [--row-group R] [--dir D] [--mlps 30-64-64-1,...]
 * Writes bench/results/batch.json and batch.md.
 * @module
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as arrow from 'apache-arrow';
import * as pw from 'parquet-wasm/esm';
import { loadParquetWasm } from '../../runtimes/native/batch-io.ts';
import { createEngine } from '../../src/index.ts';
import { createNativeRuntime } from '../../runtimes/native/runtime.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MODEL = join(ROOT, 'test/fixtures/models/breast-cancer.onnx');
const modelConfig = JSON.parse(readFileSync(MODEL.replace(/\.onnx$/, '.config.json'), 'utf8'));
const FEATURES: string[] = modelConfig.inputs.features.features;
const RECORDS = readFileSync(join(ROOT, 'test/fixtures/data/breast-cancer.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);

const { values } = parseArgs({ options: {
  rows: { type: 'string', default: '10000000' }, files: { type: 'string', default: '10' }, workers: { type: 'string', default: String(availableParallelism()) },
  'row-group': { type: 'string', default: '131072' }, dir: { type: 'string' },
  // Larger MLPs on the same 30 columns (bench/batch/mlp-model.py); '' for the bundled model only.
  mlps: { type: 'string', default: '30-64-64-1,30-128-128-1,30-160-160-1,30-192-192-1,30-256-256-1' },
} });
const rows = Number(values.rows);
const files = Number(values.files);
const workers = Number(values.workers);
const rowGroup = Number(values['row-group']);
const dir = values.dir ? resolve(ROOT, values.dir) : join(ROOT, '.tmp/bench-batch');
mkdirSync(join(dir, 'in'), { recursive: true });

// 1. Input: float32 features (what the model takes), one file at a time so generation stays
// bounded; written by parquet-wasm (the writer the batch command uses). Kept between runs
// with the same parameters (.tmp/bench-batch/in/params.json).
let t = performance.now();
const per = Math.ceil(rows / files);
const params = JSON.stringify({ rows, files, rowGroup, v: 2 });
const paramsPath = join(dir, 'in/params.json');
let genSecs = 0;
if (!existsSync(paramsPath) || readFileSync(paramsPath, 'utf8') !== params) {
  rmSync(join(dir, 'in'), { recursive: true, force: true });
  mkdirSync(join(dir, 'in'), { recursive: true });
  loadParquetWasm();
  for (let f = 0; f < files; f++) {
    const n = Math.min(per, rows - f * per);
    const base = f * per;
    const cols: Record<string, arrow.Vector> = {
      id: arrow.makeVector(BigInt64Array.from({ length: n }, (_, i) => BigInt(base + i))),
      timestamp: arrow.makeVector(Float64Array.from({ length: n }, (_, i) => 1.7e12 + base + i)),
    };
    for (const name of FEATURES) cols[name] = arrow.makeVector(Float32Array.from({ length: n }, (_, i) => RECORDS[(base + i) % RECORDS.length]![name]! * (1 + ((i % 7) - 3) / 100)));
    const props = new pw.WriterPropertiesBuilder().setCompression(pw.Compression.UNCOMPRESSED).setDictionaryEnabled(false).setMaxRowGroupSize(rowGroup).build();
    writeFileSync(join(dir, `in/part-${String(f).padStart(3, '0')}.parquet`), pw.writeParquet(pw.Table.fromIPCStream(arrow.tableToIPC(new arrow.Table(cols), 'stream')), props));
  }
  writeFileSync(paramsPath, params);
  genSecs = (performance.now() - t) / 1000;
  console.log(`generated ${rows} rows in ${files} files in ${genSecs.toFixed(1)} s`);
}
rmSync(join(dir, 'out'), { recursive: true, force: true });

// 2. The models: the bundled one, and the larger MLPs generated now on the same columns.
interface BenchModel { readonly name: string; readonly path: string; readonly config: Record<string, unknown>; readonly macs: number }
const models: BenchModel[] = [{ name: 'breast-cancer (bundled, 30-16-1)', path: MODEL, config: modelConfig, macs: 30 * 16 + 16 }];
const specs = (values.mlps ?? '').split(',').filter(Boolean);
if (specs.length) {
  writeFileSync(join(dir, 'features.json'), JSON.stringify(FEATURES));
  const out = execFileSync(process.env['PYTHON'] ?? '/usr/bin/python3', [join(ROOT, 'bench/batch/mlp-model.py'), join(dir, 'models'), join(dir, 'features.json'), ...specs], { encoding: 'utf8' });
  for (const line of out.trim().split('\n')) {
    const w = JSON.parse(line) as { path: string; layers: number[]; macs: number };
    models.push({ name: `mlp ${w.layers.join('-')}`, path: w.path, config: JSON.parse(readFileSync(w.path.replace(/\.onnx$/, '.config.json'), 'utf8')), macs: w.macs });
  }
}

// 3. Raw in-process inference: the same model, prebuilt float32 tensors, all cores to
// onnxruntime, values not scanned for NaN (the batch path checks them while it builds its
// tensors; a scan here would make "raw" partly a JavaScript loop on one core). Measured
// before and after each end-to-end run (the machine is shared: the ratio uses their mean,
// and both are reported).
// The best of three batch sizes counts (small batches suit larger models, large ones the
// smallest model on two threads), so raw is the fastest this model runs here.
const engine = createEngine(createNativeRuntime());
const RAW_BATCHES = [4_096, 16_384, 65_536];
const data = new Float32Array(RAW_BATCHES.at(-1)! * FEATURES.length);
for (let i = 0; i < data.length; i++) data[i] = RECORDS[Math.floor(i / FEATURES.length) % RECORDS.length]![FEATURES[i % FEATURES.length]!]!;
async function rawRate(m: BenchModel): Promise<{ rate: number; batch: number }> {
  const model = await engine.models.load({ source: m.path, config: m.config, backend: 'cpu' });
  let best = { rate: 0, batch: 0 };
  for (const batch of RAW_BATCHES) {
    const feeds = { features: { dtype: 'float32' as const, data: data.subarray(0, batch * FEATURES.length), dims: [batch, FEATURES.length] } };
    await model.infer(feeds, { finiteChecked: true });
    // About 0.7 s of runs (at least 4), whatever the model's speed.
    const t0 = performance.now();
    let done = 0;
    while (done < 4 * batch || performance.now() - t0 < 700) {
      await model.infer(feeds, { finiteChecked: true });
      done += batch;
    }
    const rate = done / ((performance.now() - t0) / 1000);
    if (rate > best.rate) best = { rate, batch };
  }
  await engine.models.unload(model.name);
  return best;
}

// 4. End to end: a real `omniserve batch` process, peak memory polled from /proc.
interface EndToEnd { seconds: number; rowsPerSecond: number; peakMemoryMiB: number; summary: Record<string, unknown>; stages: Record<string, number>; units: number; firstUnitSeconds: number }
async function endToEnd(m: BenchModel): Promise<EndToEnd> {
  rmSync(join(dir, 'out'), { recursive: true, force: true });
  writeFileSync(join(dir, 'batch.json'), JSON.stringify({ batch: { model: { path: m.path, backend: 'cpu' }, workers, compression: 'UNCOMPRESSED' } }));
  const t0 = performance.now();
  const spawnedAt = Date.now();
  const child = spawn(process.execPath, [join(ROOT, 'bin/omniserve.mjs'), 'batch', '--config', join(dir, 'batch.json'), '--input', join(dir, 'in'), '--output', join(dir, 'out')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let peakKb = 0;
  const poll = setInterval(() => {
    try { peakKb = Math.max(peakKb, Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0)); } catch { /* exited */ }
  }, 50);
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise<number | null>((res) => child.on('close', res));
  clearInterval(poll);
  const seconds = (performance.now() - t0) / 1000;
  if (code !== 0) throw new Error(`omniserve batch (${m.name}) exited ${code}: ${err.slice(-2000)}`);
  const manifest = JSON.parse(readFileSync(join(dir, 'out/_manifest.json'), 'utf8')) as { units: Record<string, { ms?: Record<string, number> }> };
  const unitMs = Object.values(manifest.units).map((u) => u.ms!).filter(Boolean);
  const stage = (k: string) => { const v = unitMs.map((x) => x[k]!).sort((a, b) => a - b); return v[Math.floor(v.length / 2)] ?? NaN; };
  // Time from the spawn to the first finished unit (start-up plus one unit).
  const firstUnitTs = err.split('\n').map((l) => { try { return JSON.parse(l) as { event?: string; ts?: string }; } catch { return {}; } }).find((e) => e.event === 'unit')?.ts;
  rmSync(join(dir, 'out'), { recursive: true, force: true });
  return {
    seconds, rowsPerSecond: Math.round(rows / seconds), peakMemoryMiB: Math.round(peakKb / 1024), summary: JSON.parse(out.trim().split('\n').pop()!),
    stages: { read: stage('read'), score: stage('score'), infer: stage('infer'), encode: stage('encode'), write: stage('write') }, units: unitMs.length,
    firstUnitSeconds: firstUnitTs ? (Date.parse(firstUnitTs) - spawnedAt) / 1000 : NaN,
  };
}

const loadBefore = loadavg()[0]!;
const perModel = [];
for (const m of models) {
  const rawBefore = await rawRate(m);
  const e2e = await endToEnd(m);
  const rawAfter = await rawRate(m);
  const before = rawBefore.rate;
  const after = rawAfter.rate;
  const raw = (before + after) / 2;
  console.log(`${m.name}: raw ${Math.round(before)} / ${Math.round(after)} rows/s, end to end ${e2e.rowsPerSecond} rows/s (${e2e.seconds.toFixed(1)} s), ratio ${(e2e.rowsPerSecond / raw).toFixed(3)}`);
  perModel.push({
    name: m.name, macsPerRow: m.macs,
    rawInference: { rowsPerSecond: Math.round(raw), before: Math.round(before), after: Math.round(after), bestBatch: [rawBefore.batch, rawAfter.batch] },
    endToEnd: e2e, ratioToRaw: +(e2e.rowsPerSecond / raw).toFixed(3),
    // Wall time per row the batch path adds to inference (2 cores): 1/end-to-end - 1/raw.
    addedMicrosPerRow: +((1 / e2e.rowsPerSecond - 1 / raw) * 1e6).toFixed(3),
  });
}
await engine.close();
const loadAfter = loadavg()[0]!;
const main = perModel[0]!;
const result = {
  date: new Date().toISOString(), machine: { cpus: availableParallelism(), model: cpus()[0]?.model, node: process.version },
  rows, files, rowGroup, workers, generateSeconds: genSecs,
  rawInference: main.rawInference,
  loadAverage1m: { before: loadBefore, after: loadAfter },
  stagesMedianMs: { ...main.endToEnd.stages, units: main.endToEnd.units }, firstUnitSeconds: main.endToEnd.firstUnitSeconds,
  endToEnd: { seconds: main.endToEnd.seconds, rowsPerSecond: main.endToEnd.rowsPerSecond, peakMemoryMiB: main.endToEnd.peakMemoryMiB, summary: main.endToEnd.summary },
  ratioToRaw: main.ratioToRaw,
  models: perModel,
  goals: { ratio: 0.5, rowsPerSecond: 1_000_000, peakMemoryMiB: 1024 },
};
console.log(JSON.stringify(result, null, 2));
const n = (x: number) => Math.round(x).toLocaleString('en');
const e = main.endToEnd;
const st = e.stages;
mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
writeFileSync(join(ROOT, 'bench/results/batch.json'), JSON.stringify(result, null, 2) + '\n');
writeFileSync(join(ROOT, 'bench/results/batch.md'), `# Batch benchmark

${result.date}, ${result.machine.cpus} cores (${result.machine.model}), Node ${result.machine.node}.
Input: ${rows.toLocaleString('en')} rows (id, timestamp, 30 float32 features) in ${files} Parquet files, row groups of ${rowGroup}.
Output: uncompressed Parquet, ${workers} workers (one onnxruntime thread each), the default batchSize (4,096 rows per inference call).

## The bundled model (breast-cancer MLP 30-16-1)

| measure | value | goal |
|---|---|---|
| end to end | ${n(e.rowsPerSecond)} rows/s (${e.seconds.toFixed(1)} s) | ≥ 1,000,000 rows/s |
| raw in-process inference (same model, same run, both cores, best of batches 4,096 / 16,384 / 65,536: mean of ${n(main.rawInference.before)} before and ${n(main.rawInference.after)} after) | ${n(main.rawInference.rowsPerSecond)} rows/s | |
| ratio end to end / raw | ${main.ratioToRaw} | ≥ 0.5 |
| peak memory of the batch process | ${e.peakMemoryMiB} MiB | < 1024 MiB |

Reproduce: \`node --import tsx bench/batch/run.ts --rows ${rows} --files ${files}\`.

## The ratio against the model's cost per row

The same input scored by MLPs of more work per row on the same 30 columns (generated at
benchmark time by \`bench/batch/mlp-model.py\`), each against its own raw inference measured
just before and after its run. "Added" is the wall time per row the batch path adds to raw
inference on these 2 cores (1/end-to-end − 1/raw): reading and writing the Parquet, the
tensor, post-processing, validation, the manifest.

| model | multiply-adds per row | raw inference rows/s | end to end rows/s | ratio (goal ≥ 0.5) | added µs per row | peak MiB |
|---|---|---|---|---|---|---|
${perModel.map((p) => `| ${p.name} | ${n(p.macsPerRow)} | ${n(p.rawInference.rowsPerSecond)} | ${n(p.endToEnd.rowsPerSecond)} | ${p.ratioToRaw} | ${p.addedMicrosPerRow} | ${p.endToEnd.peakMemoryMiB} |`).join('\n')}

With the bundled model, inference is a small part of the work: raw inference runs faster
than the input can be read and the output written, so its ratio measures Parquet I/O on
2 cores. The ratio reaches 0.5 once inference costs about as much per row as what the
batch path adds.

## Where the time goes (bundled model, this run)

Per 131,072-row unit, inside one worker thread, median over the run's ${e.units} units
(from the manifest's per-unit timings): read (the row group's bytes in one ranged read into
a buffer the worker reuses; the 30 feature columns are typed-array views of their PLAIN
pages, or one copy when a page is not 4-byte aligned) ${st.read} ms, score (row-major float32
tensor filled from the columns in 512-row blocks, eight columns at a time, checking values
as it goes + \`model.infer\` on 1 thread + column-wise post-processing) ${st.score} ms, of which
\`model.infer\` ${st.infer} ms, encode (the 4 new columns as page headers over the prediction
arrays, no encoder + the input's column chunks copied byte for byte + footer) ${st.encode} ms,
write (temporary file, one writev, rename) ${st.write} ms.
From the spawn to the first finished unit (process start, planning, worker threads loading
the bundle and the model, one unit): ${e.firstUnitSeconds.toFixed(1)} s of the ${e.seconds.toFixed(1)} s.
Load average (1 min) ${loadBefore.toFixed(1)} before and ${loadAfter.toFixed(1)} after the runs on these 2 shared cores: absolute
figures move with it; each ratio compares with raw inference measured just before and after.

## The pipeline, and the Parquet library

A unit that is a whole row group written as one file (the common case) is read with one
ranged read of the row group's bytes; float feature columns stored PLAIN (uncompressed or
Snappy) are used as typed-array views of their pages, other columns scoring needs are
decoded by hyparquet (zero-copy Arrow vectors); the tensor is filled from the columns in
cache-sized blocks; outputs are post-processed column-wise (no per-row objects), and the
output file is the input's column chunks copied byte for byte plus the new columns: for
uncompressed output written by omniserve itself (page headers over the Float64Arrays; run
id and timestamp as one-entry dictionaries), otherwise encoded by parquet-wasm (Rust's
parquet crate in WebAssembly). Other units (part of a row group, rows dropped by the
watermark, several partition values) are decoded and re-encoded whole by parquet-wasm
(read through a \`Blob\`: memory bounded by the unit). A worker keeps its large buffers
(row group, tensor, page copies, outputs) from unit to unit: allocating ~35 MB per unit
cost page faults, zeroing and major GCs for the external memory.
\`node --import tsx bench/batch/profile.ts\` times each stage beside the first version's
libraries on the same row group (one core, shared machine): decoding all 32 columns with
hyparquet's per-column scan took 2–10× as long as parquet-wasm, and encoding them with
hyparquet-writer 3–4× as long as with parquet-wasm; decoding only the 30 feature columns
from bytes already in memory, hyparquet (48–94 ms) beat parquet-wasm reading them again
(100–160 ms). The first version (hyparquet read, hyparquet-writer encode of every column)
spent 380–700 ms per unit encoding; 10 M rows took 37.8 s at 264,587 rows/s.
`);
