// The batch worker pool: a worker thread that dies mid-unit fails that unit only; a fresh
// worker takes its slot and the remaining units are scored on every slot.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { batchWorkerEntry, startBatchPool } from '../../runtimes/native/batch-pool.ts';
import { planUnits } from '../../src/batch/plan.ts';
import { parquetMetadata } from 'hyparquet';
import { readFileSync } from 'node:fs';
import { MODEL, MODEL_CONFIG, readOutput, tempDir, writeInput } from './fixtures.ts';

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

test('a pool worker that dies fails its unit and is replaced; the other units complete', { timeout: 60_000 }, async () => {
  const dir = tempDir(); dirs.push(dir);
  const file = join(dir, 'in/a.parquet');
  writeInput(file, Array.from({ length: 60_000 }, (_, i) => i), { rowGroupSize: 20_000 });
  const units = planUnits(file, parquetMetadata(new Uint8Array(readFileSync(file)).buffer), 20_000);
  const pool = startBatchPool({ path: MODEL, config: MODEL_CONFIG, backend: 'cpu' }, 2);
  try {
    const exec = await pool.executor({ runId: 'pool-test-run', timestamp: new Date(0).toISOString(), outDir: join(dir, 'out'), batchSize: 4096, validation: 'fail', compression: 'UNCOMPRESSED' });
    const victim = pool.threads()[1]!;
    // Units go to the slot popped last (slot 1) first: kill it while it reads.
    const first = exec.run(units[0]!);
    await new Promise((res) => setTimeout(res, 5));
    await victim.terminate();
    const r0 = await first;
    assert.equal(r0.error?.code, 'WORKER_DIED', JSON.stringify(r0));
    assert.equal(pool.replaced(), 1);
    assert.notEqual(pool.threads()[1], victim, 'a fresh worker in the slot');
    const rest = await Promise.all(units.slice(1).map((u) => exec.run(u)));
    for (const r of rest) assert.equal(r.error, undefined, JSON.stringify(r.error));
    const again = await exec.run(units[0]!);
    assert.equal(again.error, undefined, 'the slot that died scores again');
    assert.equal((await readOutput(join(dir, 'out'))).length, 60_000);
  } finally {
    await pool.close();
  }
});

test('on Node the workers run one esbuild bundle of the entry and its JavaScript packages (no tsx in the threads)', async () => {
  const entry = batchWorkerEntry();
  assert.match(entry, /node_modules\/\.cache\/omniserve\/batch-worker-[0-9a-f]{16}\/batch-worker\.node\.mjs$/);
  const code = readFileSync(new URL(entry), 'utf8');
  assert.doesNotMatch(code, /^import .* from "apache-arrow/m, 'Arrow is bundled, not ~150 modules for the loader');
  assert.doesNotMatch(code, /^import .* from "hyparquet"/m, 'hyparquet is bundled');
  assert.match(code, /import\("onnxruntime-node"\)/, 'the native binding stays an import');
  assert.doesNotMatch(code, /from "\.\.?\/.*\.ts"/, 'no TypeScript left to transform');
  assert.equal(batchWorkerEntry(), entry, 'built once per process');
});

test('the bundle is reused while its inputs are unchanged, and built again when one changes', { timeout: 60_000 }, async () => {
  const { execFileSync } = await import('node:child_process');
  const { statSync, utimesSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const root = new URL('../../', import.meta.url);
  // A cache of its own: batch runs of other test files build and index bundles meanwhile.
  const cache = new URL(`node_modules/.cache/omniserve-test-${process.pid}/`, root);
  dirs.push(cache.pathname);
  const index = new URL('batch-worker.index.json', cache);
  // From the project, or from another directory: the same sources give the same bundle.
  const entryIn = (cwd = root.pathname) => execFileSync(process.execPath, ['--import', new URL('node_modules/tsx/dist/esm/index.mjs', root).href, '-e',
    `import(${JSON.stringify(new URL('runtimes/native/batch-pool.ts', root).href)}).then((m) => console.log(m.batchWorkerEntry()))`],
  { cwd, encoding: 'utf8', env: { ...process.env, OMNISERVE_BUNDLE_CACHE: cache.pathname } }).trim();
  const first = entryIn();
  assert.ok(first.startsWith(cache.href), `${first} is in the test's cache`);
  const read = () => JSON.parse(readFileSync(index, 'utf8')) as { dir: string; inputs: Record<string, [number, number]> };
  const source = new URL('src/batch/stats.ts', root).pathname;
  assert.ok(read().inputs[source], 'the index lists the sources the bundle was built from');
  assert.equal(entryIn(tmpdir()), first, 'same bundle, from another directory');
  // A newer modification time (same content): the index must be rewritten by a new build.
  const t = new Date(Math.floor(Date.now() / 1000) * 1000 + 1000);
  utimesSync(source, t, t);
  assert.equal(entryIn(tmpdir()), first, 'same content, same content-addressed bundle');
  assert.equal(read().inputs[source]![1], statSync(source).mtimeMs, 'rebuilt and re-recorded after the change');
});
