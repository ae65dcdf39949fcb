// The conformance suite in real workerd (Miniflare 4 from npm): every case Node, Bun and Deno
// run (test/conformance/conformance.case.ts), run inside the Worker on its backend
// (onnxruntime-web WASM from a CompiledWasm module), one test here per case. The case names
// are collected here by registering the suite without running it, so a case the Worker does
// not have fails by name instead of going missing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Miniflare } from 'miniflare';
import { bundleWorker, copyOrtWasm } from '../../scripts/build-workerd.ts';
import { COMPATIBILITY_DATE } from '../../runtimes/workerd/compatibility.ts';
import { caseNames } from '../conformance/conformance.case.ts';
import { fixtureModule } from '../conformance/fixture-module.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const names = caseNames('workerd', ['web-wasm']);

let outDir: string;
let mf: Miniflare | undefined;
let base: URL;

before(async () => {
  outDir = await mkdtemp(join(tmpdir(), 'omniserve-workerd-conformance-'));
  await copyOrtWasm(outDir);
  const entry = join(outDir, 'worker.js');
  await bundleWorker({
    entry: join(ROOT, 'test', 'workerd', 'conformance-worker.ts'), outfile: entry,
    virtual: { 'omniserve:conformance-fixtures': await fixtureModule() }, minify: false,
  });
  mf = new Miniflare({
    modulesRoot: outDir,
    modules: [{ type: 'ESModule', path: entry }, { type: 'CompiledWasm', path: join(outDir, 'ort-wasm-simd-threaded.wasm') }],
    compatibilityDate: COMPATIBILITY_DATE,
    host: '127.0.0.1',
    port: 0,
  });
  base = await mf.ready;
}, { timeout: 120_000 });

after(async () => {
  await mf?.dispose().catch(() => {});
  if (outDir) await rm(outDir, { recursive: true, force: true });
}, { timeout: 30_000 });

describe('conformance in workerd', { timeout: 600_000 }, () => {
  test('the Worker registered the same cases as the suite here', async () => {
    const res = await fetch(new URL('/cases', base));
    assert.deepEqual(await res.json(), names);
  });

  for (const name of names) {
    test(name, { timeout: 120_000 }, async () => {
      const res = await fetch(new URL('/run', base), { method: 'POST', body: name, signal: AbortSignal.timeout(110_000) });
      const r = await res.json() as { ok: boolean; error?: string };
      assert.equal(res.status, 200);
      assert.ok(r.ok, r.error);
    });
  }
});
