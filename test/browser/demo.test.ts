// The browser client end to end in Debian's Chromium (playwright-core): `omniserve serve
// --demo` on a free port, the /demo page on each backend choice (WebGPU on SwiftShader,
// forced WASM, auto without a WebGPU adapter, the server), predictions against the torch
// goldens (1e-4) and the server's answers, the UI's backend and latency, the drawing pad,
// the server fallback when the page may not run WebAssembly (a CSP without
// 'wasm-unsafe-eval'), and the model file's checks (corrupt download, too large, damaged
// cache entry). Saves the demo's screenshot to .tmp/demo.png (docs/demo.png with
// OMNISERVE_UPDATE_SCREENSHOT=1). Fails, never skips, when
// Chromium is missing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { launchChromium, type RunningChromium } from './chromium.ts';
import { ROOT, SERVE_HOSTS, startServe, type ServeProcess } from '../support/serve-process.ts';
import { readJsonFile } from '../support/golden.ts';

interface DigitsGolden { records: { image: number[] }[]; outputs: { logits: { dims: number[]; data: number[] } }; labels: number[] }
const golden = readJsonFile<DigitsGolden>('test/fixtures/goldens/digits.json');
const TOL = 1e-4;
const logitsOf = (i: number) => golden.outputs.logits.data.slice(i * 10, i * 10 + 10);
const softmax = (xs: number[]) => {
  const m = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
};
const argmax = (xs: number[]) => xs.indexOf(Math.max(...xs));

interface Prediction { prediction: number | null; probability: number | null; label?: string; probabilities?: number[]; outputs?: Record<string, number[]> }
interface DemoSnapshot {
  info?: { backend: string; requested: string; reason: string; threads: number; adapter?: string; fallback?: { code: string }; file?: { source: string; sha256: string } };
  error?: { code?: string; message: string };
  local?: { predictions: Prediction[]; backend: string };
  server?: { predictions: Prediction[] };
  agree?: number;
  ui: { backend: string; reason: string; latency: string; agreement: string; drawLocal: string; drawServer: string };
}

/** Every prediction equals the goldens (probabilities = softmax of the torch logits, within 1e-4). */
function assertGolden(predictions: readonly Prediction[], what: string): void {
  assert.equal(predictions.length, golden.records.length, `${what}: one prediction per record`);
  predictions.forEach((p, i) => {
    const want = softmax(logitsOf(i));
    assert.equal(p.prediction, argmax(want), `${what} row ${i}: class`);
    assert.equal(p.label, String(argmax(want)), `${what} row ${i}: label`);
    assert.equal(p.probabilities?.length, 10, `${what} row ${i}: probabilities`);
    p.probabilities!.forEach((q, k) => assert.ok(Math.abs(q - want[k]!) <= TOL, `${what} row ${i} class ${k}: ${q} vs golden ${want[k]}`));
    if (p.outputs) {
      logitsOf(i).forEach((l, k) => assert.ok(Math.abs(p.outputs!['logits']![k]! - l) <= TOL, `${what} row ${i} logit ${k}: ${p.outputs!['logits']![k]} vs golden ${l}`));
    }
  });
}

/** Opens the demo and waits for it to finish its first round. */
async function openDemo(c: RunningChromium, url: string): Promise<{ page: Page; snap: DemoSnapshot }> {
  const page = await c.newPage();
  await page.goto(url);
  const snap = await page.evaluate(async () => {
    const d = (globalThis as { omniserveDemo?: Record<string, any> }).omniserveDemo;
    if (!d) throw new Error('the demo script did not run (window.omniserveDemo is missing)');
    await d['ready'];
    const text = (id: string) => document.getElementById(id)?.textContent ?? '';
    return {
      info: d['model']?.info(), error: d['error'], local: d['local'], server: d['server'], agree: d['agree'],
      ui: { backend: text('backend'), reason: text('reason'), latency: text('latency'), agreement: text('agreement'), drawLocal: text('draw-local'), drawServer: text('draw-server') },
    } as unknown;
  }) as DemoSnapshot;
  return { page, snap };
}

const explain = (c: RunningChromium, snap: DemoSnapshot) => `${JSON.stringify(snap.error ?? snap.info)}\nbrowser log:\n${c.log.slice(-20).join('\n')}`;

let tmp: string;
let server: ServeProcess;
let chrome: RunningChromium;
let demoUrl: string;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'omniserve-browser-'));
  const config = join(tmp, 'omniserve.json');
  writeFileSync(config, JSON.stringify({ server: { port: 0, host: '127.0.0.1' }, models: [{ path: join(ROOT, 'test/fixtures/models/digits.onnx') }] }));
  [server, chrome] = await Promise.all([startServe(SERVE_HOSTS[0]!, config, { extraArgs: ['--demo'] }), launchChromium()]);
  demoUrl = `${server.url}/demo/`;
});
after(async () => {
  await chrome?.close();
  await server?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('browser demo (Chromium, omniserve serve --demo)', { timeout: 120_000 }, () => {
  test('the route: /demo redirects to the page, assets are served, unknown files are 404', async () => {
    const page = await fetch(`${server.url}/demo`, { redirect: 'manual' });
    assert.equal(page.status, 302);
    assert.equal(page.headers.get('location'), '/demo/');
    const html = await fetch(demoUrl);
    assert.equal(html.status, 200);
    assert.match(html.headers.get('content-type') ?? '', /text\/html/);
    assert.equal(html.headers.get('cross-origin-embedder-policy'), 'require-corp');
    const wasm = await fetch(`${demoUrl}lib/ort/ort-wasm-simd-threaded.wasm`, { method: 'GET' });
    assert.equal(wasm.headers.get('content-type'), 'application/wasm');
    await wasm.body?.cancel();
    const model = await fetch(`${demoUrl}models/digits.onnx`);
    assert.match(model.headers.get('repr-digest') ?? '', /^sha-256=:[A-Za-z0-9+/]+=*:$/);
    await model.body?.cancel();
    for (const p of ['lib/nope.js', 'lib/ort/../../package.json', 'models/../../package.json', 'lib/ort/ort.min.mjs']) {
      assert.equal((await fetch(`${demoUrl}${p}`)).status, 404, p);
    }
  });

  test('auto picks WebGPU (SwiftShader adapter), says why, matches the goldens and the server; screenshot', async () => {
    const { page, snap } = await openDemo(chrome, demoUrl);
    assert.equal(snap.info?.backend, 'web-webgpu', explain(chrome, snap));
    assert.equal(snap.info?.requested, 'auto');
    assert.match(snap.info!.reason, /navigator\.gpu offered an adapter \(.*swiftshader/i);
    assert.equal(snap.ui.backend, 'web-webgpu');
    assert.equal(snap.ui.reason, snap.info!.reason);
    assert.match(snap.ui.latency, /^\d+(\.\d+)? ms per digit · \d+(\.\d+)? ms for 32 digits \(in this page\)$/);
    assert.match(snap.ui.agreement, /^32\/32 predictions equal the server's/);
    assert.equal(snap.local?.backend, 'web-webgpu');
    assertGolden(snap.local!.predictions, 'webgpu');
    assertGolden(snap.server!.predictions, 'server');
    assert.equal(snap.ui.drawLocal, String(golden.labels[0]), 'the pad starts with sample 0');
    assert.equal(snap.ui.drawServer, snap.ui.drawLocal);
    // docs/demo.png is committed: refreshed on request only, so a test run leaves the tree clean.
    const shot = process.env['OMNISERVE_UPDATE_SCREENSHOT'] ? join(ROOT, 'docs/demo.png') : join(ROOT, '.tmp/demo.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(statSync(shot).size > 20_000, 'the screenshot has content');
    await page.close();
  });

  test('forced WASM: WASM-SIMD with threads (the page is cross-origin isolated); raw logits equal the goldens', async () => {
    const { page, snap } = await openDemo(chrome, `${demoUrl}?backend=wasm`);
    assert.equal(snap.info?.backend, 'web-wasm', explain(chrome, snap));
    assert.match(snap.info!.reason, /^WASM-SIMD as requested, \d threads? \(page is cross-origin isolated\)$/);
    assert.ok(snap.info!.threads >= 1);
    assert.equal(snap.ui.backend, 'web-wasm');
    assertGolden(snap.local!.predictions, 'wasm');
    // The same client from the bundle, with every raw output kept: logits against the torch goldens.
    const raw = await page.evaluate(async (records) => {
      const lib = await import(new URL('lib/omniserve-browser.js', location.href).href);
      const m = await lib.createLocalModel({ model: 'models/digits.onnx', config: 'models/digits.config.json', backend: 'wasm', outputs: true });
      try {
        return { info: m.info(), res: await m.predict(records) };
      } finally {
        await m.close();
      }
    }, golden.records) as { info: { file: { source: string } }; res: { predictions: Prediction[] } };
    assert.equal(raw.info.file.source, 'cache', 'the second load reads the checked Cache API copy');
    assertGolden(raw.res.predictions, 'wasm raw');
    await page.close();
  });

  test('workers: 2 — concurrent predict() calls spread over two workers, every answer equal to the goldens', async () => {
    const page = await chrome.newPage();
    try {
      await page.goto(demoUrl);
      const r = await page.evaluate(async (records) => {
        const lib = await import(new URL('lib/omniserve-browser.js', location.href).href);
        const bad = await lib.createLocalModel({ model: 'models/digits.onnx', config: 'models/digits.config.json', backend: 'wasm', workers: 0 })
          .then(() => 'accepted', (e: { code?: string }) => e.code);
        const m = await lib.createLocalModel({ model: 'models/digits.onnx', config: 'models/digits.config.json', backend: 'wasm', workers: 2, threads: 1, outputs: true });
        try {
          // Eight calls of four records at once.
          const parts = await Promise.all(Array.from({ length: 8 }, (_, k) => m.predict(records.slice(k * 4, k * 4 + 4))));
          return { bad, info: m.info(), workers: parts.map((p: { worker?: number }) => p.worker), predictions: parts.flatMap((p: { predictions: unknown[] }) => p.predictions) };
        } finally {
          await m.close();
        }
      }, golden.records) as { bad: string; info: { workers: number; backend: string }; workers: (number | undefined)[]; predictions: Prediction[] };
      assert.equal(r.bad, 'INVALID_REQUEST');
      assert.equal(r.info.workers, 2);
      assert.equal(r.info.backend, 'web-wasm');
      assert.deepEqual([...new Set(r.workers)].sort(), [0, 1], `answered by workers ${JSON.stringify(r.workers)}`);
      assertGolden(r.predictions, 'two workers');
    } finally {
      await page.close();
    }
  });

  test('the drawing pad: a 0 drawn with the mouse is classified locally and by the server, the same', async () => {
    const { page, snap } = await openDemo(chrome, `${demoUrl}?backend=wasm`);
    assert.equal(snap.info?.backend, 'web-wasm', explain(chrome, snap));
    await page.click('#clear');
    assert.equal(await page.textContent('#draw-server-p'), '', 'Clear empties the answers');
    const box = (await page.locator('#pad').boundingBox())!;
    // A "0": one stroke around an ellipse. Drawing classifies on pointerup; Classify does it again.
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.1);
    await page.mouse.down();
    for (let i = 1; i <= 40; i++) {
      const a = (i / 40) * 2 * Math.PI;
      await page.mouse.move(box.x + box.width * (0.5 + 0.27 * Math.sin(a)), box.y + box.height * (0.5 - 0.4 * Math.cos(a)));
    }
    await page.mouse.up();
    await page.click('#classify');
    await page.waitForFunction(() => /ms round trip$/.test(document.getElementById('draw-server-p')?.textContent ?? ''));
    const local = await page.textContent('#draw-local');
    const remote = await page.textContent('#draw-server');
    assert.match(local ?? '', /^[0-9]$/);
    assert.equal(local, remote, 'in-page and server answers for the drawing');
    assert.equal(local, '0', 'an ellipse is a 0');
    await page.close();
  });

  test('backend=server: every record goes to the server, same shapes and answers', async () => {
    const { page, snap } = await openDemo(chrome, `${demoUrl}?backend=server`);
    assert.equal(snap.info?.backend, 'server', explain(chrome, snap));
    assert.match(snap.info!.reason, /^backend: 'server' requested/);
    assert.equal(snap.ui.backend, 'server');
    assert.match(snap.ui.latency, /\(server\)$/);
    assert.equal(snap.local?.backend, 'server');
    assertGolden(snap.local!.predictions, 'server via client');
    await page.close();
  });

  test('fallback: a page whose CSP forbids WebAssembly (no wasm-unsafe-eval) uses the server and says why', async () => {
    const page = await chrome.newPage();
    // The worker's own response headers set its CSP: without 'wasm-unsafe-eval' it may not compile WebAssembly.
    await page.route('**/demo/lib/inference.worker.js', async (route) => {
      const res = await route.fetch();
      await route.fulfill({ response: res, headers: { ...res.headers(), 'content-security-policy': "script-src 'self'" } });
    });
    await page.goto(demoUrl);
    const snap = await page.evaluate(async () => {
      const d = (globalThis as { omniserveDemo?: Record<string, any> }).omniserveDemo!;
      await d['ready'];
      return { info: d['model']?.info(), local: d['local'], error: d['error'], backend: document.getElementById('backend')?.textContent } as unknown;
    }) as DemoSnapshot & { backend: string };
    assert.equal(snap.info?.backend, 'server', explain(chrome, snap));
    assert.equal(snap.backend, 'server');
    assert.equal(snap.info?.fallback?.code, 'BACKEND_UNAVAILABLE');
    assert.match(snap.info!.reason, /^local inference failed \(BACKEND_UNAVAILABLE: .*web-wasm: .*\); records go to http:\/\/127\.0\.0\.1:\d+$/);
    assertGolden(snap.local!.predictions, 'fallback');
    await page.close();
  });

  test('the model file: a corrupt download, a model over the limit, a damaged cache entry', async () => {
    const page = await chrome.newPage();
    await page.goto(demoUrl);
    const r = await page.evaluate(async () => {
      const lib = await import(new URL('lib/omniserve-browser.js', location.href).href);
      const attempt = async (o: Record<string, unknown>) => {
        try {
          const m = await lib.createLocalModel({ model: 'models/digits.onnx', config: 'models/digits.config.json', backend: 'wasm', ...o });
          const info = m.info();
          await m.close();
          return { ok: true, source: info.file?.source, sha256: info.file?.sha256 };
        } catch (e) {
          return { ok: false, code: (e as { code?: string }).code, message: (e as Error).message };
        }
      };
      const corrupt = await attempt({ sha256: '0'.repeat(64), cache: 'omniserve-test-corrupt' });
      const tooLarge = await attempt({ maxModelBytes: 4096, cache: false });
      const first = await attempt({ cache: 'omniserve-test-damaged' });
      // Damage the cached copy: same bookkeeping headers, different bytes.
      const cache = await caches.open('omniserve-test-damaged');
      const url = new URL('models/digits.onnx', location.href).href;
      const hit = (await cache.match(url))!;
      const bytes = new Uint8Array(await hit.arrayBuffer());
      bytes[100] = bytes[100]! ^ 0xff;
      await cache.put(url, new Response(bytes, { headers: hit.headers }));
      const second = await attempt({ cache: 'omniserve-test-damaged' });
      const third = await attempt({ cache: 'omniserve-test-damaged' });
      return { corrupt, tooLarge, first, second, third };
    }) as Record<string, { ok: boolean; code?: string; message?: string; source?: string; sha256?: string }>;
    assert.equal(r['corrupt']!.code, 'MODEL_CORRUPT', JSON.stringify(r['corrupt']));
    assert.match(r['corrupt']!.message!, /SHA-256 [0-9a-f]{64}, expected 0{64}/);
    assert.equal(r['tooLarge']!.code, 'MODEL_TOO_LARGE', JSON.stringify(r['tooLarge']));
    assert.match(r['tooLarge']!.message!, /16\.4\d* ?KiB|0\.016 MiB; this target takes at most 0\.004 MiB/);
    assert.equal(r['first']!.source, 'network');
    assert.equal(r['second']!.source, 'network', 'a damaged cached copy is dropped and downloaded again');
    assert.equal(r['third']!.source, 'cache');
    assert.equal(r['second']!.sha256, r['first']!.sha256);
    await page.close();
  });

  test('a float16 model under auto on SwiftShader (no shader-f16): the client skips WebGPU, says why, and answers on WASM', async () => {
    // SwiftShader's adapter lacks shader-f16, where onnxruntime-web's float16 kernels answer zeros.
    const fp16 = readJsonFile<{ outputs: { logit: { values: number[] } } }>('test/fixtures/goldens/breast-cancer-fp16.json');
    const records = readJsonFile<{ records: Record<string, number>[] }>('test/fixtures/goldens/breast-cancer.json').records.slice(0, 16);
    const bytes = [...readFileSync(join(ROOT, 'test/fixtures/models/breast-cancer-fp16.onnx'))];
    const config = readJsonFile<unknown>('test/fixtures/models/breast-cancer-fp16.config.json');
    const page = await chrome.newPage();
    try {
      await page.goto(demoUrl);
      const r = await page.evaluate(async ({ bytes, config, records }) => {
        const lib = await import(new URL('lib/omniserve-browser.js', location.href).href);
        const m = await lib.createLocalModel({ model: new Uint8Array(bytes), config, backend: 'auto', outputs: true, cache: false });
        try {
          return { info: m.info(), res: await m.predict(records) };
        } finally {
          await m.close();
        }
      }, { bytes, config, records }) as { info: { backend: string; reason: string }; res: { predictions: Prediction[] } };
      assert.equal(r.info.backend, 'web-wasm', r.info.reason);
      assert.match(r.info.reason, /^WASM-SIMD, .*WebGPU not used: .*float16 tensors \("features", "logit"\) need the WebGPU feature "shader-f16", which this device lacks/);
      r.res.predictions.forEach((p, i) => {
        const v = p.outputs!['logit'] as number | number[];
        const got = typeof v === 'number' ? v : v[0]!;
        const want = fp16.outputs.logit.values[i]!;
        // One float16 step: numpy's float32 sums and onnxruntime's may round the last bits apart.
        assert.ok(Math.abs(got - want) <= 2e-3 * Math.max(1, Math.abs(want)), `row ${i}: logit ${got}, numpy ${want}`);
      });
    } finally {
      await page.close();
    }
  });

  test('auto without a WebGPU adapter: WASM-SIMD, and the reason names what WebGPU lacked', async () => {
    const plain = await launchChromium({ webgpu: false });
    try {
      const { snap } = await openDemo(plain, demoUrl);
      assert.equal(snap.info?.backend, 'web-wasm', explain(plain, snap));
      assert.match(snap.info!.reason, /^WASM-SIMD, \d threads? \(page is cross-origin isolated\); WebGPU not used: navigator\.gpu\.requestAdapter\(\) returned no adapter$/);
      assert.equal(snap.ui.reason, snap.info!.reason);
      assertGolden(snap.local!.predictions, 'auto wasm');
    } finally {
      await plain.close();
    }
  });
});

// The same demo served by Bun and Deno: `serve --demo` builds the client bundle with esbuild
// on that host, serves it through Bun.serve / Deno.serve, and the page runs it against the
// goldens, with the server's answers from that host.
describe('browser demo served by Bun and Deno', { timeout: 240_000 }, () => {
  for (const host of SERVE_HOSTS.slice(1)) {
    test(`${host.name}: serve --demo builds and serves the page, its assets and the model; the page answers the goldens, as does the server`, { timeout: 120_000 }, async () => {
      const config = join(tmp, `omniserve-${host.name}.json`);
      writeFileSync(config, JSON.stringify({ server: { port: 0, host: '127.0.0.1' }, models: [{ path: join(ROOT, 'test/fixtures/models/digits.onnx') }] }));
      const other = await startServe(host, config, { extraArgs: ['--demo'] });
      try {
        const url = `${other.url}/demo/`;
        const html = await fetch(url);
        assert.equal(html.status, 200);
        assert.equal(html.headers.get('cross-origin-embedder-policy'), 'require-corp');
        await html.body?.cancel();
        const bundle = await fetch(`${url}lib/omniserve-browser.js`);
        assert.equal(bundle.status, 200, `${host.name}: the client bundle was built`);
        assert.match(await bundle.text(), /export\{.*createLocalModel/, `${host.name}: the bundle exports the client`);
        const model = await fetch(`${url}models/digits.onnx`);
        const bytes = new Uint8Array(await model.arrayBuffer());
        assert.deepEqual(bytes, new Uint8Array(readFileSync(join(ROOT, 'models/digits.onnx'))));
        assert.match(model.headers.get('repr-digest') ?? '', /^sha-256=:[A-Za-z0-9+/]+=*:$/);
        assert.equal((await fetch(`${url}lib/ort/../../package.json`)).status, 404);
        const { page, snap } = await openDemo(chrome, `${url}?backend=wasm`);
        try {
          assert.equal(snap.info?.backend, 'web-wasm', explain(chrome, snap));
          assertGolden(snap.local!.predictions, `${host.name} page`);
          assertGolden(snap.server!.predictions, `${host.name} server`);
          assert.match(snap.ui.agreement, /^32\/32 predictions equal the server's/);
        } finally {
          await page.close();
        }
      } finally {
        await other.stop();
      }
    });
  }
});
