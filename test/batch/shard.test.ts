// --shard i/n: n shards of one output directory together write every input row exactly
// once, each with its own manifest; the deal of units is deterministic. With --incremental
// each shard owns whole files and keeps its own watermark. An output keeps its layout.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createEngine, type Engine, type Model } from '../../src/index.ts';
import { parseBatchConfig } from '../../src/batch/config.ts';
import { BatchUsageError, runBatch, type BatchRunOptions } from '../../src/batch/run.ts';
import { featureInput } from '../../src/batch/score.ts';
import { UnitRunner } from '../../src/batch/unit.ts';
import { fileShard, parseShard, shardUnits, type WorkUnit } from '../../src/batch/plan.ts';
import { isOmniserveError } from '../../src/errors.ts';
import type { Manifest } from '../../src/batch/manifest.ts';
import { nodeBatchHost } from '../../runtimes/native/batch-io.ts';
import { createNativeRuntime } from '../../runtimes/native/runtime.ts';
import { MODEL, readOutput, tempDir, writeInput } from './fixtures.ts';

let engine: Engine;
let model: Model;
const dirs: string[] = [];
const host = nodeBatchHost();
before(async () => {
  engine = createEngine(createNativeRuntime());
  model = await engine.models.load({ source: MODEL, config: (await import('./fixtures.ts')).MODEL_CONFIG, backend: 'cpu' });
});
after(async () => {
  await engine.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('shard assignment: every unit to exactly one shard, deterministic, balanced per file', () => {
  assert.deepEqual(parseShard('2/5'), { index: 2, count: 5 });
  for (const bad of ['5/5', '1', '-1/2', 'a/b', '0/0']) assert.equal(parseShard(bad), undefined, bad);
  const units: WorkUnit[] = Array.from({ length: 10 }, (_, i) => ({ id: `f-${i}`, file: '/data/f.parquet', rowStart: i * 10, rowEnd: i * 10 + 10 }));
  const dealt = [0, 1, 2].map((index) => shardUnits('/data/f.parquet', units, { index, count: 3 }).map((u) => u.id));
  assert.deepEqual(dealt.flat().sort(), units.map((u) => u.id).sort());
  for (const d of dealt) assert.ok(d.length === 3 || d.length === 4, `balanced: ${d.length}`);
  assert.deepEqual(shardUnits('/data/f.parquet', units, { index: 1, count: 3 }).map((u) => u.id), dealt[1]);
});

test('three shards into one output directory write every row exactly once', async () => {
  const dir = tempDir(); dirs.push(dir);
  const ids = (n: number, from: number) => Array.from({ length: n }, (_, i) => from + i);
  const inputs = [join(dir, 'in/a.parquet'), join(dir, 'in/b.parquet'), join(dir, 'in/c.parquet')];
  writeInput(inputs[0]!, ids(700, 0), { rowGroupSize: 100 });
  writeInput(inputs[1]!, ids(130, 1000), { rowGroupSize: 64 });
  writeInput(inputs[2]!, ids(50, 2000), { rowGroupSize: 50 });
  const fi = featureInput(model);
  const opts = (index: number, count: number): BatchRunOptions => ({
    inputs, outDir: join(dir, 'out'), config: parseBatchConfig({ model: { path: MODEL }, unitRows: 64 }), shard: { index, count },
    model: { name: model.name, version: model.version, features: fi.features }, newRunId: () => `run-shard-${index}`, partitionBy: 'segment',
    executor: async (s) => { const r = new UnitRunner(model, fi, host, s); return { capacity: 1, run: (u) => r.run(u), close: () => r.close() }; },
  });
  const planned: number[] = [];
  for (const i of [2, 0, 1]) {
    const s = await runBatch(opts(i, 3), host);
    assert.equal(s.status, 'committed', s.message);
    planned.push(s.manifest!.unitsPlanned);
    assert.ok(s.manifest!.unitsPlanned > 0, 'every shard has work');
  }
  const rows = await readOutput(join(dir, 'out'));
  const seen = new Map<number, number>();
  for (const r of rows) seen.set(Number(r['id']), (seen.get(Number(r['id'])) ?? 0) + 1);
  const expected = [...ids(700, 0), ...ids(130, 1000), ...ids(50, 2000)];
  assert.equal(rows.length, expected.length, 'no row twice');
  for (const id of expected) assert.equal(seen.get(id), 1, `id ${id} exactly once`);
  const manifests = readdirSync(join(dir, 'out')).filter((n) => n.startsWith('_manifest')).sort();
  assert.deepEqual(manifests, ['_manifest.shard-0-of-3.json', '_manifest.shard-1-of-3.json', '_manifest.shard-2-of-3.json']);
  const total = manifests.map((n) => JSON.parse(readFileSync(join(dir, 'out', n), 'utf8')) as Manifest).reduce((a, m) => a + m.rows, 0);
  assert.equal(total, expected.length);
  // A shard run again resumes/refuses like a run; another layout of the same output is refused.
  assert.equal((await runBatch({ ...opts(1, 3), resume: true }, host)).status, 'already-done');
  await assert.rejects(runBatch(opts(0, 2), host), (e) => isOmniserveError(e, 'SHARD_LAYOUT_MISMATCH') && /shard-0-of-3/.test(e.message));
  await assert.rejects(runBatch({ ...opts(0, 3), shard: undefined }, host), (e) => isOmniserveError(e, 'SHARD_LAYOUT_MISMATCH'));
  await assert.rejects(runBatch(opts(0, 3), host), BatchUsageError);
});

test('--shard with --incremental: each shard owns whole files and keeps its own watermark; growing input is scored once', async () => {
  const dir = tempDir(); dirs.push(dir);
  // Two files per shard (picked by the same hash the run uses).
  const names = Array.from({ length: 20 }, (_, i) => join(dir, `in/f${i}.parquet`));
  const of = (s: number) => names.filter((n) => fileShard(n, 2) === s).slice(0, 2);
  const [a0, b0] = of(0) as [string, string];
  const [a1, b1] = of(1) as [string, string];
  const range = (n: number, from: number) => Array.from({ length: n }, (_, i) => from + i);
  // Shard 0's rows are late in time (ts 5000+), shard 1's early (ts 1000+id): one watermark
  // for both would skip shard 1's next rows.
  const late = { rowGroupSize: 50, ts: (id: number) => 5000 + id };
  writeInput(a0, range(120, 0), late);
  writeInput(b0, range(80, 200), late);
  writeInput(a1, range(90, 1000), { rowGroupSize: 40 });
  writeInput(b1, range(60, 2000), { rowGroupSize: 40 });
  const fi = featureInput(model);
  let seq = 0;
  const opts = (index: number, count = 2): BatchRunOptions => ({
    inputs: [a0, b0, a1, b1].filter((p) => existsSync(p)), outDir: join(dir, 'out'), config: parseBatchConfig({ model: { path: MODEL }, unitRows: 64 }),
    shard: { index, count }, incremental: { column: 'ts' },
    model: { name: model.name, version: model.version, features: fi.features }, newRunId: () => `run-${index}-${seq++}`,
    executor: async (s) => { const r = new UnitRunner(model, fi, host, s); return { capacity: 1, run: (u) => r.run(u), close: () => r.close() }; },
  });
  const manifest = (i: number) => JSON.parse(readFileSync(join(dir, `out/_manifest.shard-${i}-of-2.json`), 'utf8')) as Manifest;
  for (const i of [1, 0]) assert.equal((await runBatch(opts(i), host)).status, 'committed');
  assert.deepEqual(manifest(0).inputs.map((x) => x.path).sort(), [a0, b0].sort(), 'shard 0 read only its files');
  assert.equal(manifest(0).watermark, 5000 + 279);
  assert.equal(manifest(1).watermark, 1000 + 2059);
  // Growing input: a1 (shard 1) gains rows still below shard 0's watermark, a0 gains rows,
  // and both shards' files are rewritten with other row-group sizes (every unit moves).
  writeInput(a0, range(150, 0), { rowGroupSize: 70, ts: (id) => (id < 120 ? 5000 + id : 6000 + id) });
  writeInput(a1, range(130, 1000), { rowGroupSize: 33, ts: (id) => (id < 1090 ? 1000 + id : 4000 + id) });
  for (const i of [0, 1]) assert.equal((await runBatch(opts(i), host)).status, 'committed');
  assert.equal(manifest(0).rows, 30);
  assert.equal(manifest(0).watermark, 6000 + 149);
  assert.equal(manifest(1).rows, 40, 'rows above shard 1\'s watermark though below shard 0\'s');
  assert.equal(manifest(1).watermark, 4000 + 1129);
  assert.equal(manifest(0).history.length, 1);
  const rows = await readOutput(join(dir, 'out'));
  const expected = [...range(150, 0), ...range(80, 200), ...range(130, 1000), ...range(60, 2000)];
  const seen = new Map<number, number>();
  for (const r of rows) seen.set(Number(r['id']), (seen.get(Number(r['id'])) ?? 0) + 1);
  assert.equal(rows.length, expected.length, 'no row twice');
  for (const id of expected) assert.equal(seen.get(id), 1, `id ${id} exactly once`);
  // Nothing new for either shard; another shard count on this output is refused.
  for (const i of [0, 1]) assert.equal((await runBatch(opts(i), host)).status, 'nothing-new');
  await assert.rejects(runBatch(opts(0, 3), host), (e) => isOmniserveError(e, 'SHARD_LAYOUT_MISMATCH'));
});
