// The conformance suite in Debian's Chromium (playwright-core): every case the other hosts run
// (test/conformance/conformance.case.ts), run in a page on onnxruntime-web WASM and on WebGPU
// (SwiftShader's adapter), one test here per case. The page is bundled here with the
// fixtures in it and served over loopback with onnxruntime-web's files; the case names are
// collected here by registering the suite without running it, so a case the page does not
// have fails by name. Fails, never skips, when Chromium is missing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { allWasmAssets } from '../../wasm/assets.ts';
import { resolveWasmAsset } from '../../runtimes/native/wasm-assets.ts';
import { BROWSER_BUNDLE } from '../../runtimes/browser/host/build.ts';
import { caseNames } from '../conformance/conformance.case.ts';
import { fixtureModule } from '../conformance/fixture-module.ts';
import { launchChromium, type RunningChromium } from './chromium.ts';

const ENTRY = fileURLToPath(new URL('./conformance-page.ts', import.meta.url));

const names = caseNames('browser', ['web-wasm', 'web-webgpu']);

/** The page's script: the suite, the fixtures and onnxruntime-web's glue, one ES module. */
async function bundlePage(): Promise<Uint8Array> {
  const { build } = await import('esbuild');
  const fixtures = await fixtureModule();
  const result = await build({
    // As the browser client is built.
    ...BROWSER_BUNDLE,
    conditions: [...BROWSER_BUNDLE.conditions],
    entryPoints: [ENTRY],
    plugins: [{
      name: 'conformance-fixtures',
      setup(b) {
        b.onResolve({ filter: /^omniserve:conformance-fixtures$/ }, (a) => ({ path: a.path, namespace: 'fixtures' }));
        b.onLoad({ filter: /.*/, namespace: 'fixtures' }, () => ({ contents: fixtures, loader: 'js' }));
      },
    }],
  });
  return result.outputFiles[0]!.contents;
}

let server: Server | undefined;
let chrome: RunningChromium | undefined;
let page: Page;

before(async () => {
  const script = await bundlePage();
  const assets = new Set(allWasmAssets());
  server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const send = (type: string, body: Uint8Array | string) => res.writeHead(200, { 'content-type': type }).end(body);
    if (path === '/') send('text/html', '<!doctype html><meta charset="utf-8"><title>conformance</title><script type="module" src="/conformance.js"></script>');
    else if (path === '/conformance.js') send('text/javascript', script);
    else if (path.startsWith('/ort/') && assets.has(path.slice(5))) {
      const name = path.slice(5);
      readFile(resolveWasmAsset(name)).then((b) => send(name.endsWith('.wasm') ? 'application/wasm' : 'text/javascript', b), () => res.writeHead(500).end());
    } else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  chrome = await launchChromium();
  page = await chrome.newPage();
  await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  await page.waitForFunction(() => (globalThis as { conformance?: unknown }).conformance !== undefined, undefined, { timeout: 60_000 });
}, { timeout: 120_000 });

after(async () => {
  await chrome?.close();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
}, { timeout: 30_000 });

describe('conformance in Chromium', { timeout: 900_000 }, () => {
  test('the page registered the same cases as the suite here', async () => {
    const got = await page.evaluate(() => (globalThis as unknown as { conformance: { names: string[] } }).conformance.names);
    assert.deepEqual(got, names);
  });

  for (const name of names) {
    test(name, { timeout: 120_000 }, async () => {
      const r = await page.evaluate((n) => (globalThis as unknown as { conformance: { run(n: string): Promise<{ ok: boolean; error?: string }> } }).conformance.run(n), name);
      assert.ok(r.ok, `${r.error}\n${chrome?.log.slice(-10).join('\n') ?? ''}`);
    });
  }

  // A batch over the device's buffer limit (a real validation refusal of the input buffer
  // omniserve makes) is answered on WebGPU in halves, as WASM answers it; later batches go in
  // parts at once.
  test('a batch the WebGPU device cannot take whole is answered on it in parts, under auto and pinned', { timeout: 120_000 }, async () => {
    type Scored = { backend?: string; skipped?: unknown; first?: number[]; second?: number[]; oversized?: number; oversizedAgain?: number; code?: string; message?: string };
    const r = await page.evaluate(() => (globalThis as unknown as { conformance: { oversizedRun(): Promise<unknown> } }).conformance.oversizedRun()) as Record<'wasm' | 'auto' | 'pinned', Scored>;
    assert.equal(r.wasm.backend, 'web-wasm', JSON.stringify(r.wasm));
    assert.equal(r.wasm.first?.length, 256);
    for (const [name, got] of [['auto', r.auto], ['pinned', r.pinned]] as const) {
      const shown = JSON.stringify({ ...got, first: got.first?.slice(0, 3), second: got.second?.slice(0, 3) });
      assert.equal(got.backend, 'web-webgpu', `${name}: ${shown}`);
      assert.equal(got.skipped, undefined, `${name}: ${shown}`);
      assert.ok(got.oversized! >= 1, `${name}: the device was asked for an oversized buffer: ${shown}`);
      assert.equal(got.oversizedAgain, 0, `${name}: the second batch went in parts at once: ${shown}`);
      got.first!.forEach((x, i) => assert.ok(Math.abs(x - r.wasm.first![i]!) < 1e-3, `${name} row ${i}: ${x} vs ${r.wasm.first![i]}`));
      got.second!.forEach((x, i) => assert.ok(Math.abs(x - r.wasm.first![i]!) < 1e-3, `${name} second batch row ${i}: ${x} vs ${r.wasm.first![i]}`));
    }
  });

  // Last: it leaves an invalid pipeline in onnxruntime-web's cache for the page.
  test('GPU work the WebGPU device refuses: the load fails (auto moves to WASM), a run fails pinned and moves to WASM under auto; never zeros', { timeout: 120_000 }, async () => {
    type WorkerGot = { message?: string; loadedOn?: string; first?: { backend: string; moved?: { reason: string; threads: number }; y?: number[] }; second?: { backend: string; moved?: unknown } };
    type Got = { code?: string; message?: string; details?: Record<string, unknown>; backend?: string; skipped?: { backend: string; reason: string }[]; answered?: number[] };
    const r = await page.evaluate(() => (globalThis as unknown as { conformance: { refusedRun(): Promise<Record<string, unknown>> } }).conformance.refusedRun()) as Record<'pinned' | 'auto' | 'noWarmup' | 'autoNoWarmup', Got> & { workerApi: WorkerGot };
    const refused = /WebGPU device refused the run's GPU work \(validation\)/;
    // Pinned: the warm-up's refusal fails the load, naming the device's reason.
    assert.equal(r.pinned.code, 'INVALID_MODEL', JSON.stringify(r.pinned));
    assert.equal(r.pinned.details?.['deviceRefused'], true);
    assert.match(r.pinned.message!, refused);
    // auto: WebGPU skipped for that reason, WASM answers the float16 rounding.
    assert.equal(r.auto.backend, 'web-wasm', JSON.stringify(r.auto));
    assert.equal(r.auto.skipped?.[0]?.backend, 'web-webgpu');
    assert.match(r.auto.skipped![0]!.reason, refused);
    assert.deepEqual(r.auto.answered, [0.0999755859375, 1.5, -2.5, 1000.5]);
    // No warm-up: the model loads, and the run fails instead of answering zeros.
    assert.equal(r.noWarmup.answered, undefined, `the run answered ${JSON.stringify(r.noWarmup.answered)}`);
    assert.equal(r.noWarmup.code, 'INFERENCE_FAILED', JSON.stringify(r.noWarmup));
    assert.equal(r.noWarmup.details?.['deviceRefused'], true);
    assert.match(r.noWarmup.message!, refused);
    // auto, no warm-up: the model loads on WebGPU; its first run is refused, so it moves to
    // WASM, which answers that run; metadata says why.
    assert.equal(r.autoNoWarmup.backend, 'web-wasm', JSON.stringify(r.autoNoWarmup));
    assert.deepEqual(r.autoNoWarmup.answered, [0.0999755859375, 1.5, -2.5, 1000.5]);
    assert.equal(r.autoNoWarmup.skipped?.[0]?.backend, 'web-webgpu');
    assert.match(r.autoNoWarmup.skipped![0]!.reason, /^the device refused a run after the load: /);
    assert.match(r.autoNoWarmup.skipped![0]!.reason, refused);
    // The same through the browser client's worker API: loaded on WebGPU, answered by WASM,
    // and the first answer tells the client (info().backend and reason follow it).
    const w = r.workerApi;
    assert.equal(w.loadedOn, 'web-webgpu', JSON.stringify(w));
    assert.equal(w.first?.backend, 'web-wasm');
    assert.deepEqual(w.first?.y, [0.0999755859375, 1.5, -2.5, 1000.5]);
    assert.match(w.first?.moved?.reason ?? '', /^WASM-SIMD, 1 thread .*WebGPU not used: the device refused a run after the load: .*refused the run's GPU work \(validation\)/);
    assert.equal(w.second?.backend, 'web-wasm');
    assert.equal(w.second?.moved, undefined, 'said once');
  });
});
