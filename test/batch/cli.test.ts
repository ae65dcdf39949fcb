// `omniserve batch` as real processes: kill -9 mid-run then --resume gives every input row
// exactly once (checked id by id); incremental runs over growing input score each row once;
// exit codes for bad input.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Manifest } from '../../src/batch/manifest.ts';
import { expandInputs } from '../../runtimes/native/batch-io.ts';
import { ROOT, readOutput, tempDir, writeConfig, writeInput } from './fixtures.ts';

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

function start(args: string[], cwd: string): { child: ChildProcess; units: (n: number) => Promise<void>; done: Promise<{ code: number | null; signal: string | null; out: string; err: string }> } {
  const child = spawn(process.execPath, [join(ROOT, 'bin/omniserve.mjs'), 'batch', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let seen = 0;
  const waiters: [number, () => void][] = [];
  child.stdout!.on('data', (d) => { out += d; });
  createInterface({ input: child.stderr! }).on('line', (line) => {
    err += line + '\n';
    if (line.includes('"event":"unit"')) seen++;
    for (const w of waiters.filter(([n]) => seen >= n)) w[1]();
  });
  const done = new Promise<{ code: number | null; signal: string | null; out: string; err: string }>((res) =>
    child.on('close', (code, signal) => res({ code, signal, out, err })));
  return { child, done, units: (n) => new Promise<void>((res) => { if (seen >= n) res(); else waiters.push([n, res]); }) };
}

const ids = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

describe('omniserve batch (processes)', { concurrency: false }, () => {
  test('kill -9 mid-run, then --resume: every input row exactly once', async () => {
    const dir = tempDir(); dirs.push(dir);
    writeInput(join(dir, 'in/a.parquet'), ids(1500), { rowGroupSize: 30 });
    writeInput(join(dir, 'in/b.parquet'), ids(900, 5000), { rowGroupSize: 30 });
    const config = writeConfig(dir, { workers: 1, unitRows: 30 });
    const args = ['--config', config, '--input', join(dir, 'in/*.parquet'), '--output', join(dir, 'out'), '--partition-by', 'segment'];
    // Crash twice at different points, each time resuming the same run.
    for (const after of [3, 15]) {
      const run = start(after === 3 ? args : [...args, '--resume'], dir);
      await run.units(after);
      run.child.kill('SIGKILL');
      const r = await run.done;
      assert.equal(r.signal, 'SIGKILL', r.err.slice(-2000));
    }
    const mid = JSON.parse(readFileSync(join(dir, 'out/_manifest.json'), 'utf8')) as Manifest;
    assert.equal(mid.status, 'running');
    const plain = await start(args, dir).done;
    assert.equal(plain.code, 2, 'an unfinished run without --resume is refused');
    assert.match(plain.err, /add --resume/);
    const fin = await start([...args, '--resume'], dir).done;
    assert.equal(fin.code, 0, fin.err.slice(-2000));
    const rows = await readOutput(join(dir, 'out'));
    const seen = new Map<number, number>();
    for (const r of rows) seen.set(Number(r['id']), (seen.get(Number(r['id'])) ?? 0) + 1);
    const expected = [...ids(1500), ...ids(900, 5000)];
    assert.equal(rows.length, expected.length, 'no row twice');
    for (const id of expected) assert.equal(seen.get(id), 1, `id ${id} exactly once`);
    const m = JSON.parse(readFileSync(join(dir, 'out/_manifest.json'), 'utf8')) as Manifest;
    assert.equal(m.status, 'committed');
    assert.equal(m.runId, mid.runId, 'the resumed run keeps its id');
    assert.equal(m.rows, expected.length);
    assert.ok(rows.every((r) => r['prediction_run_id'] === m.runId));
  });

  test('kill -9 while a unit\'s file is being written: the temporary file is never output and --resume removes it', async () => {
    const dir = tempDir(); dirs.push(dir);
    // Units of 40,000 rows (about 11 MB each written) so a write takes long enough to be caught.
    writeInput(join(dir, 'in/a.parquet'), ids(160_000), { rowGroupSize: 40_000 });
    const config = writeConfig(dir, { workers: 1, compression: 'UNCOMPRESSED' });
    const out = join(dir, 'out');
    mkdirSync(out);
    const args = ['--config', config, '--input', join(dir, 'in'), '--output', out];
    const temps = () => readdirSync(out).filter((n) => /^\.part-.*\.tmp-/.test(n));
    let left: string[] = [];
    for (let attempt = 0; attempt < 4 && left.length === 0; attempt++) {
      const run = start(attempt === 0 ? args : [...args, '--resume'], dir);
      // Kill the moment a unit's temporary file appears (inotify), before its rename.
      const watcher = watch(out, (_, name) => { if (name && /^\.part-.*\.tmp-/.test(String(name))) run.child.kill('SIGKILL'); });
      const r = await run.done;
      watcher.close();
      assert.equal(r.signal, 'SIGKILL', `attempt ${attempt} ended before a write was caught: ${r.err.slice(-1500)}`);
      left = temps();
    }
    assert.ok(left.length > 0, 'no kill landed mid-write in 4 attempts');
    // Never output: not in the manifest, not matched by the output's *.parquet (a later run's --input).
    const mid = JSON.parse(readFileSync(join(out, '_manifest.json'), 'utf8')) as Manifest;
    const recorded = Object.values(mid.units).flatMap((u) => u.outputs.map((o) => o.path));
    for (const t of left) assert.ok(!recorded.some((p) => p.endsWith(t)), `${t} recorded`);
    assert.deepEqual((await expandInputs(out)).filter((p) => p.includes('.tmp-')), []);
    assert.deepEqual((await expandInputs(join(out, '*.parquet'))).filter((p) => p.includes('.tmp-')), []);
    const fin = await start([...args, '--resume'], dir).done;
    assert.equal(fin.code, 0, fin.err.slice(-2000));
    assert.deepEqual(readdirSync(out).filter((n) => n.includes('.tmp-')), [], 'temporary files removed');
    const m = JSON.parse(readFileSync(join(out, '_manifest.json'), 'utf8')) as Manifest;
    assert.equal(m.status, 'committed');
    assert.ok((m.removedTemp ?? 0) >= left.length, `removedTemp ${m.removedTemp} for ${left.length} left`);
    const rows = await readOutput(out);
    assert.equal(rows.length, 160_000, 'no row twice');
    assert.equal(new Set(rows.map((r) => Number(r['id']))).size, 160_000, 'every row once');
  });

  test('incremental: two runs over growing input score each row once; nothing new exits 0', async () => {
    const dir = tempDir(); dirs.push(dir);
    const config = writeConfig(dir, { workers: 2 });
    const args = ['--config', config, '--input', join(dir, 'in'), '--output', join(dir, 'out'), '--incremental', '--watermark-column', 'ts'];
    writeInput(join(dir, 'in/day1.parquet'), ids(200));
    const r1 = await start(args, dir).done;
    assert.equal(r1.code, 0, r1.err);
    const m1 = JSON.parse(readFileSync(join(dir, 'out/_manifest.json'), 'utf8')) as Manifest;
    assert.equal(m1.watermark, 1000 + 199);
    // Growing input: day1 gains rows (rewritten with more ids), day2 arrives.
    writeInput(join(dir, 'in/day1.parquet'), ids(250));
    writeInput(join(dir, 'in/day2.parquet'), ids(100, 250));
    const r2 = await start(args, dir).done;
    assert.equal(r2.code, 0, r2.err);
    const rows = await readOutput(join(dir, 'out'));
    assert.equal(rows.length, 350);
    assert.equal(new Set(rows.map((r) => Number(r['id']))).size, 350, 'each row scored once');
    const m2 = JSON.parse(readFileSync(join(dir, 'out/_manifest.json'), 'utf8')) as Manifest;
    assert.equal(m2.watermark, 1000 + 349);
    assert.equal(m2.rows, 150);
    assert.equal(m2.history.length, 1);
    const r3 = await start(args, dir).done;
    assert.equal(r3.code, 0);
    assert.match(r3.out, /nothing new above the watermark 1349/);
  });

  test('exit codes: a corrupt file → 3 with the others written; a missing column → 1 before scoring', async () => {
    const dir = tempDir(); dirs.push(dir);
    const config = writeConfig(dir, { workers: 1 });
    writeInput(join(dir, 'in/ok.parquet'), ids(10));
    writeFileSync(join(dir, 'in/zbad.parquet'), 'not parquet');
    const r = await start(['--config', config, '--input', join(dir, 'in/*.parquet'), '--output', join(dir, 'out')], dir).done;
    assert.equal(r.code, 3, r.err);
    assert.match(r.err, /zbad\.parquet: not a readable Parquet file/);
    assert.equal((await readOutput(join(dir, 'out'))).length, 10);
    writeInput(join(dir, 'in2/x.parquet'), ids(10), { drop: 'mean_area' });
    const m = await start(['--config', config, '--input', join(dir, 'in2'), '--output', join(dir, 'out2')], dir).done;
    assert.equal(m.code, 1);
    assert.match(m.err, /MISSING_FEATURE: .*x\.parquet: missing column "mean_area"/);
  });
});

/** Output rows without run columns, by id. */
const stripRun = (rows: Record<string, unknown>[]) => rows.map(({ _file, prediction_run_id, prediction_timestamp, ...r }) => r).sort((a, b) => Number(a['id']) - Number(b['id']));

describe('omniserve batch on a float16 model', () => {
  test('scores Parquet through a half-precision model: the probabilities predict gives for the same rows', async () => {
    const dir = tempDir(); dirs.push(dir);
    writeInput(join(dir, 'in/a.parquet'), ids(300), { rowGroupSize: 100 });
    const config = join(dir, 'fp16.json');
    writeFileSync(config, JSON.stringify({ batch: { model: { path: join(ROOT, 'test/fixtures/models/breast-cancer-fp16.onnx') }, unitRows: 100 } }));
    const r = await start(['--config', config, '--input', join(dir, 'in'), '--output', join(dir, 'out')], dir).done;
    assert.equal(r.code, 0, r.err.slice(-2000));
    const rows = (await readOutput(join(dir, 'out'))).sort((a, b) => Number(a['id']) - Number(b['id']));
    assert.equal(rows.length, 300);
    const { createEngine } = await import('../../src/index.ts');
    const { createNativeRuntime } = await import('../../runtimes/native/runtime.ts');
    const { RECORDS } = await import('./fixtures.ts');
    const engine = createEngine(createNativeRuntime());
    try {
      const model = await engine.models.load({ source: join(ROOT, 'test/fixtures/models/breast-cancer-fp16.onnx') });
      const want = await model.predict(RECORDS.slice(0, 300));
      rows.forEach((row, i) => {
        assert.equal(Number(row['id']), i);
        assert.ok(Math.abs(Number(row['probability']) - want[i]!.probability!) < 1e-6, `row ${i}: ${row['probability']} vs ${want[i]!.probability}`);
        assert.equal(Number(row['prediction']), want[i]!.prediction);
      });
    } finally {
      await engine.close();
    }
  });
});

describe('omniserve batch on a ZipMap classifier', () => {
  test('scores Parquet through a scikit-learn export with ZipMap: class and probability as scikit-learn gives them', async () => {
    const dir = tempDir(); dirs.push(dir);
    const g = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/goldens/iris-zipmap.json'), 'utf8')) as { features: string[]; rows: number[][]; predicted: number[]; probabilities: number[][] };
    const { parquetWriteBuffer } = await import('hyparquet-writer');
    mkdirSync(join(dir, 'in'), { recursive: true });
    writeFileSync(join(dir, 'in/iris.parquet'), new Uint8Array(parquetWriteBuffer({
      columnData: [
        { name: 'id', data: BigInt64Array.from(g.rows, (_, i) => BigInt(i)) },
        ...g.features.map((f, j) => ({ name: f, data: Float64Array.from(g.rows, (r) => r[j]!) })),
      ],
    })));
    // No post-processing in the config: the ZipMap's probabilities get `probabilities` by default.
    writeFileSync(join(dir, 'iris.config.json'), JSON.stringify({ inputs: { float_input: { features: g.features } } }));
    const config = join(dir, 'batch.json');
    writeFileSync(config, JSON.stringify({ batch: { model: { path: join(ROOT, 'test/fixtures/models/iris-zipmap.onnx'), config: join(dir, 'iris.config.json') } } }));
    const r = await start(['--config', config, '--input', join(dir, 'in'), '--output', join(dir, 'out')], dir).done;
    assert.equal(r.code, 0, r.err.slice(-2000));
    const rows = (await readOutput(join(dir, 'out'))).sort((a, b) => Number(a['id']) - Number(b['id']));
    assert.equal(rows.length, g.rows.length);
    rows.forEach((row, i) => {
      assert.equal(Number(row['prediction']), g.predicted[i], `row ${i}`);
      assert.ok(Math.abs(Number(row['probability']) - Math.max(...g.probabilities[i]!)) < 1e-5, `row ${i}: ${row['probability']}`);
    });
  });
});

describe('omniserve batch on Deno', () => {
  test('Deno runs the batch command with worker threads (node:worker_threads), kill -9 and --resume included: every row once, predictions as on Node', async () => {
    const dir = tempDir(); dirs.push(dir);
    writeInput(join(dir, 'in/a.parquet'), ids(3000), { rowGroupSize: 100 });
    const config = writeConfig(dir, { workers: 1 });
    const args = ['run', '-A', join(ROOT, 'runtimes/deno/main.ts'), 'batch', '--config', config, '--input', join(dir, 'in'), '--output', join(dir, 'out-deno')];
    const deno = (extra: string[], killAfterUnits?: number) => {
      const child = spawn(join(ROOT, 'node_modules/.bin/deno'), [...args, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      let units = 0;
      createInterface({ input: child.stderr! }).on('line', (line) => {
        err += line + '\n';
        if (line.includes('"event":"unit"') && ++units === killAfterUnits) child.kill('SIGKILL');
      });
      return new Promise<{ code: number | null; signal: string | null; err: string }>((res) => child.on('close', (code, signal) => res({ code, signal, err })));
    };
    const killed = await deno([], 5);
    assert.equal(killed.signal, 'SIGKILL', killed.err.slice(-2000));
    const r = await deno(['--resume']);
    assert.equal(r.code, 0, r.err.slice(-2000));
    const m = JSON.parse(readFileSync(join(dir, 'out-deno/_manifest.json'), 'utf8')) as Manifest;
    assert.equal(m.status, 'committed');
    assert.equal(m.rows, 3000);
    const node = await start(['--config', config, '--input', join(dir, 'in'), '--output', join(dir, 'out-node')], dir).done;
    assert.equal(node.code, 0, node.err.slice(-2000));
    const onDeno = stripRun(await readOutput(join(dir, 'out-deno')));
    const onNode = stripRun(await readOutput(join(dir, 'out-node')));
    assert.equal(onDeno.length, 3000, 'no row twice');
    assert.equal(new Set(onDeno.map((x) => Number(x['id']))).size, 3000, 'every row once');
    for (const [i, x] of onDeno.entries()) {
      const { probability: p, ...rest } = x;
      const { probability: q, ...restNode } = onNode[i]!;
      assert.deepEqual(rest, restNode);
      assert.ok(Math.abs((p as number) - (q as number)) <= 1e-12 * Math.abs(q as number), `row ${i}: ${p} vs ${q}`);
    }
  });
});

describe('omniserve batch on Bun', () => {
  test('Bun runs the batch command with worker threads: every row once, predictions as on Node', async () => {
    const dir = tempDir(); dirs.push(dir);
    writeInput(join(dir, 'in/a.parquet'), ids(600), { rowGroupSize: 200 });
    const config = writeConfig(dir, { workers: 1 });
    const child = spawn(join(ROOT, 'node_modules/.bin/bun'), [join(ROOT, 'runtimes/bun/main.ts'), 'batch', '--config', config, '--input', join(dir, 'in'), '--output', join(dir, 'out-bun')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d) => { err += d; });
    const code = await new Promise<number | null>((res) => child.on('close', res));
    assert.equal(code, 0, err.slice(-2000));
    const node = await start(['--config', config, '--input', join(dir, 'in'), '--output', join(dir, 'out-node')], dir).done;
    assert.equal(node.code, 0, node.err.slice(-2000));
    const bun = stripRun(await readOutput(join(dir, 'out-bun')));
    const onNode = stripRun(await readOutput(join(dir, 'out-node')));
    assert.equal(bun.length, 600);
    // Math.exp may differ in the last bit between JavaScriptCore and V8: probabilities to 1e-12 relative.
    for (const [i, r] of bun.entries()) {
      const { probability: p, ...rest } = r;
      const { probability: q, ...restNode } = onNode[i]!;
      assert.deepEqual(rest, restNode);
      assert.ok(Math.abs((p as number) - (q as number)) <= 1e-12 * Math.abs(q as number), `row ${i}: ${p} vs ${q}`);
    }
  });
});
