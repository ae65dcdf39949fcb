/**
 * Batch benchmark: N rows (id, timestamp, 30 float features) written as Parquet under
 * .tmp/bench-batch (never committed), then scored end to end by a real `omniserve batch`
 * process; compared with raw in-process inference (`model.infer` on prebuilt tensors) of
 * the same model in the same run. Peak memory: the batch process's VmHWM (all its threads).
 * Usage: node --import tsx bench/batch/run.ts [--rows N] [--files F] [--workers W] [--row-group R] [--dir D]
 * Writes bench/results/batch.json and batch.md.
 * @module
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
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

const { values } = parseArgs({ options: { rows: { type: 'string', default: '10000000' }, files: { type: 'string', default: '10' }, workers: { type: 'string', default: String(availableParallelism()) }, 'row-group': { type: 'string', default: '131072' }, dir: { type: 'string' } } });
const rows = Number(values.rows);
const files = Number(values.files);
const workers = Number(values.workers);
const rowGroup = Number(values['row-group']);
const dir = values.dir ? join(ROOT, values.dir) : join(ROOT, '.tmp/bench-batch');
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

// 2. Raw in-process inference: the same model, prebuilt float32 tensors, all cores to
// onnxruntime, values not scanned for NaN (the batch path checks them while it builds its
// tensors; a scan here would make "raw" partly a JavaScript loop on one core). Measured before and after the end-to-end run (the machine is shared: the
// ratio uses their mean, and both are reported).
const engine = createEngine(createNativeRuntime());
const model = await engine.models.load({ source: MODEL, config: modelConfig, backend: 'cpu' });
const batch = 65_536;
const data = new Float32Array(batch * FEATURES.length);
for (let i = 0; i < data.length; i++) data[i] = RECORDS[Math.floor(i / FEATURES.length) % RECORDS.length]![FEATURES[i % FEATURES.length]!]!;
const rawRows = Math.min(rows, 5_000_000);
await model.infer({ features: { dtype: 'float32', data, dims: [batch, FEATURES.length] } }, { finiteChecked: true });
const raw = async (): Promise<number> => {
  const t0 = performance.now();
  for (let done = 0; done < rawRows; done += batch) await model.infer({ features: { dtype: 'float32', data, dims: [batch, FEATURES.length] } }, { finiteChecked: true });
  return Math.ceil(rawRows / batch) * batch / ((performance.now() - t0) / 1000);
};
const rawBefore = await raw();
console.log(`raw inference: ${Math.round(rawBefore)} rows/s`);
const loadBefore = loadavg()[0]!;

// 3. End to end: a real `omniserve batch` process, peak memory polled from /proc.
writeFileSync(join(dir, 'batch.json'), JSON.stringify({ batch: { model: { path: MODEL, backend: 'cpu' }, workers, compression: 'UNCOMPRESSED' } }));
t = performance.now();
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
const e2eSecs = (performance.now() - t) / 1000;
if (code !== 0) throw new Error(`omniserve batch exited ${code}: ${err.slice(-2000)}`);
const e2eRate = rows / e2eSecs;
const manifest = JSON.parse(readFileSync(join(dir, 'out/_manifest.json'), 'utf8')) as { startedAt: string; units: Record<string, { ms?: Record<string, number> }> };
const unitMs = Object.values(manifest.units).map((u) => u.ms!).filter(Boolean);
const stageUnits = unitMs.length;
const stage = (k: string) => { const v = unitMs.map((m) => m[k]!).sort((a, b) => a - b); return v[Math.floor(v.length / 2)] ?? NaN; };
// Time from the spawn to the first finished unit (start-up plus one unit).
const firstUnitTs = err.split('\n').map((l) => { try { return JSON.parse(l) as { event?: string; ts?: string }; } catch { return {}; } }).find((e) => e.event === 'unit')?.ts;
const startSecs = firstUnitTs ? (Date.parse(firstUnitTs) - spawnedAt) / 1000 : NaN;
const loadAfter = loadavg()[0]!;
const rawAfter = await raw();
await engine.close();
const rawRate = (rawBefore + rawAfter) / 2;
console.log(`raw inference after: ${Math.round(rawAfter)} rows/s; end to end ${Math.round(e2eRate)} rows/s`);
const result = {
  date: new Date().toISOString(), machine: { cpus: availableParallelism(), model: cpus()[0]?.model, node: process.version },
  rows, files, rowGroup, workers, generateSeconds: genSecs,
  rawInference: { rows: rawRows, rowsPerSecond: Math.round(rawRate), before: Math.round(rawBefore), after: Math.round(rawAfter), batch },
  loadAverage1m: { before: loadBefore, after: loadAfter },
  stagesMedianMs: { read: stage('read'), score: stage('score'), infer: stage('infer'), encode: stage('encode'), write: stage('write'), units: stageUnits }, firstUnitSeconds: startSecs,
  endToEnd: { seconds: e2eSecs, rowsPerSecond: Math.round(e2eRate), peakMemoryMiB: Math.round(peakKb / 1024), summary: JSON.parse(out.trim().split('\n').pop()!) },
  ratioToRaw: +(e2eRate / rawRate).toFixed(3),
  goals: { ratio: 0.5, rowsPerSecond: 1_000_000, peakMemoryMiB: 1024 },
};
console.log(JSON.stringify(result, null, 2));
mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
writeFileSync(join(ROOT, 'bench/results/batch.json'), JSON.stringify(result, null, 2) + '\n');
writeFileSync(join(ROOT, 'bench/results/batch.md'), `# Batch benchmark

${result.date}, ${result.machine.cpus} cores (${result.machine.model}), Node ${result.machine.node}.
Input: ${rows.toLocaleString('en')} rows (id, timestamp, 30 float32 features) in ${files} Parquet files, row groups of ${rowGroup}.
Model: breast-cancer MLP (30-16-1). Output: uncompressed Parquet, ${workers} workers.

| measure | value | goal |
|---|---|---|
| end to end | ${Math.round(e2eRate).toLocaleString('en')} rows/s (${e2eSecs.toFixed(1)} s) | ≥ 1,000,000 rows/s |
| raw in-process inference (same model, same run: mean of ${Math.round(rawBefore).toLocaleString('en')} before and ${Math.round(rawAfter).toLocaleString('en')} after) | ${Math.round(rawRate).toLocaleString('en')} rows/s | |
| ratio end to end / raw | ${result.ratioToRaw} | ≥ 0.5 |
| peak memory of the batch process | ${result.endToEnd.peakMemoryMiB} MiB | < 1024 MiB |

Reproduce: \`node --import tsx bench/batch/run.ts --rows ${rows} --files ${files}\`.

## Where the time goes (this run)

Per 131,072-row unit, inside one worker thread, median over the run's ${stageUnits} units
(from the manifest's per-unit timings): read (the row group's bytes in one ranged read; the 30 feature
columns are typed-array views of their PLAIN pages in them) ${stage('read')} ms, score (row-major float32
tensor filled from the columns in 512-row blocks, four columns at a time + \`model.infer\` on 1 thread + column-wise
post-processing) ${stage('score')} ms, of which \`model.infer\` ${stage('infer')} ms, encode (the 4 new columns as page headers over the
prediction arrays, no encoder + the input's column chunks copied byte for byte + footer) ${stage('encode')} ms, write (temporary file,
one writev, rename) ${stage('write')} ms.
From the spawn to the first finished unit (process start, planning, worker threads loading modules and the model, one unit): ${startSecs.toFixed(1)} s of the ${e2eSecs.toFixed(1)} s
(the CLI loads only the batch command; on Node the worker threads run one esbuild bundle instead of registering tsx).
Load average (1 min) ${loadBefore.toFixed(1)} before and ${loadAfter.toFixed(1)} after the run on these 2 shared cores: absolute
figures move with it; the ratio compares with raw inference measured just before and after.

## The pipeline, and the Parquet library

A unit that is a whole row group written as one file (the common case) is read with one
ranged read of the row group's bytes; float feature columns stored PLAIN (uncompressed or
Snappy) are used as typed-array views of their pages, other columns scoring needs are
decoded by hyparquet (zero-copy Arrow vectors); the tensor is filled from the columns in
cache-sized blocks; outputs are post-processed
column-wise (no per-row objects), and the output file is the input's column chunks copied
byte for byte plus the new columns: for uncompressed output written by omniserve itself
(page headers over the Float64Arrays; run id and timestamp as one-entry dictionaries),
otherwise encoded by parquet-wasm (Rust's parquet crate in WebAssembly). Other units (part of
a row group, rows dropped by the watermark, several partition values) are decoded and
re-encoded whole by parquet-wasm (read through a \`Blob\`: memory bounded by the unit).
\`node --import tsx bench/batch/profile.ts\` times each stage beside the first version's
libraries on the same row group (one core, shared machine): decoding all 32 columns with
hyparquet's per-column scan took 2–10× as long as parquet-wasm, and encoding them with
hyparquet-writer 3–4× as long as with parquet-wasm; decoding only the 30 feature columns
from bytes already in memory, hyparquet (48–94 ms) beat parquet-wasm reading them again
(100–160 ms). The first version (hyparquet read, hyparquet-writer encode of every column)
spent 380–700 ms per unit encoding; 10 M rows took 37.8 s at 264,587 rows/s.
`);
rmSync(join(dir, 'out'), { recursive: true, force: true });
