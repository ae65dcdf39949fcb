/**
 * bench/browser: local inference in headless Chromium (Debian's, driven by playwright-core)
 * through the browser client, next to the same models in Node in the same run.
 *
 *   node --import tsx bench/browser/run.ts [--seconds S] [--quick]
 *
 * Browser side: `createLocalModel({backend: 'wasm' | 'webgpu'})` from the bundle
 * (runtimes/browser), records → worker (comlink) → core predict → results back on the page:
 * what an app calls. WASM runs on 2 threads (the page is cross-origin isolated), WebGPU on
 * the SwiftShader adapter (software: no GPU here). Node side: `Model.predict` in process
 * (bench/core's "predict" path) on onnxruntime-node's CPU backend and onnxruntime-web's WASM.
 * Every path: the fixture models × batch 1, 64, 1024 (golden rows tiled), 0.2 s warm-up,
 * then calls back to back for S seconds (default 1); rows/s = rows ÷ wall time, latency per
 * call. Writes bench/results/browser.json and browser.md.
 * @module
 */
import { createServer } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createEngine } from '../../src/engine.ts';
import { createNativeRuntime } from '../../runtimes/native/runtime.ts';
import { createDemoMount } from '../../runtimes/browser/host/demo-mount.ts';
import { ROOT } from '../../runtimes/browser/host/build.ts';
import { launchChromium } from '../../test/browser/chromium.ts';
import { loadFixture, MODELS, cycleRecords } from '../core/fixtures.ts';
import { describeMachine, sourceRevision } from '../core/machine.ts';

const BATCHES = [1, 64, 1024] as const;
const { values: args } = parseArgs({ options: { seconds: { type: 'string' }, quick: { type: 'boolean', default: false } } });
const seconds = args.seconds !== undefined ? Number(args.seconds) : args.quick ? 0.25 : 1;

interface Cell { rows: number; calls: number; wallMs: number; rowsPerSec: number; p50: number; p99: number }
interface PathResult { path: string; backend: string; detail: string; cells: Record<string, Cell>; error?: string }

/** The measuring loop, shared verbatim by Node and the page (serialised into it). */
async function measure(call: () => Promise<unknown>, batch: number, seconds: number): Promise<Cell> {
  const warm = performance.now();
  while (performance.now() - warm < 200) await call();
  const lat: number[] = [];
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000 || lat.length < 3) {
    const t = performance.now();
    await call();
    lat.push(performance.now() - t);
  }
  const wallMs = performance.now() - t0;
  lat.sort((a, b) => a - b);
  const pick = (q: number) => lat[Math.min(lat.length - 1, Math.ceil(q * lat.length) - 1)]!;
  return { rows: lat.length * batch, calls: lat.length, wallMs, rowsPerSec: (lat.length * batch) / (wallMs / 1000), p50: pick(0.5), p99: pick(0.99) };
}

const fixtures = MODELS.map((m) => loadFixture(m));
const key = (model: string, batch: number) => `${model}×${batch}`;

async function nodePaths(): Promise<PathResult[]> {
  const out: PathResult[] = [];
  for (const backend of ['native-cpu', 'web-wasm'] as const) {
    const engine = createEngine(createNativeRuntime({ webThreads: 2 }));
    const cells: Record<string, Cell> = {};
    for (const f of fixtures) {
      const model = await engine.models.load({ source: f.bytes, name: f.name, config: f.config, backend });
      for (const batch of BATCHES) {
        const records = cycleRecords(f, batch);
        cells[key(f.name, batch)] = await measure(() => model.predict(records), batch, seconds);
        process.stderr.write(`node ${backend} ${f.name} ×${batch}: ${Math.round(cells[key(f.name, batch)]!.rowsPerSec)} rows/s\n`);
      }
    }
    await engine.close();
    out.push({ path: `node:${backend}`, backend, detail: `Model.predict in process (Node ${process.version})`, cells });
  }
  return out;
}

async function browserPaths(baseUrl: string): Promise<{ results: PathResult[]; browser: string }> {
  const chrome = await launchChromium();
  const results: PathResult[] = [];
  try {
    const page = await chrome.newPage();
    await page.goto(`${baseUrl}/bench.html`);
    for (const backend of ['wasm', 'webgpu'] as const) {
      const cells: Record<string, Cell> = {};
      let detail = '';
      try {
        for (const f of fixtures) {
          const r = await page.evaluate(async ({ name, config, records, backend, batches, seconds, measureSrc }) => {
            const measure = new Function(`return (${measureSrc})`)() as (c: () => Promise<unknown>, b: number, s: number) => Promise<unknown>;
            const lib = await import(new URL('/demo/lib/omniserve-browser.js', location.href).href);
            const m = await lib.createLocalModel({ model: `/bench/${name}.onnx`, config, name, backend, cache: false });
            const out: Record<string, unknown> = {};
            try {
              for (const batch of batches) {
                const rows = Array.from({ length: batch }, (_, i) => records[i % records.length]);
                out[String(batch)] = await measure(() => m.predict(rows), batch, seconds);
              }
              return { info: m.info(), out };
            } finally {
              await m.close();
            }
          }, { name: f.name, config: f.config, records: f.records, backend, batches: [...BATCHES], seconds, measureSrc: measure.toString() }) as
            { info: { backend: string; reason: string; threads: number }; out: Record<string, Cell> };
          if (r.info.backend !== `web-${backend}`) throw new Error(`asked for ${backend}, got ${r.info.backend}: ${r.info.reason}`);
          detail = `${r.info.reason}`;
          for (const b of BATCHES) {
            cells[key(f.name, b)] = r.out[String(b)]!;
            process.stderr.write(`chromium ${backend} ${f.name} ×${b}: ${Math.round(r.out[String(b)]!.rowsPerSec)} rows/s\n`);
          }
        }
        results.push({ path: `chromium:web-${backend}`, backend: `web-${backend}`, detail, cells });
      } catch (e) {
        results.push({ path: `chromium:web-${backend}`, backend: `web-${backend}`, detail, cells, error: (e as Error).message.split('\n')[0]! });
      }
    }
    return { results, browser: chrome.browser.version() };
  } finally {
    await chrome.close();
  }
}

async function main(): Promise<void> {
  const mount = await createDemoMount();
  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const iso = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp', 'cross-origin-resource-policy': 'same-origin' };
    const m = /^\/bench\/([a-z-]+)\.onnx$/.exec(path);
    if (path === '/bench.html') {
      res.writeHead(200, { 'content-type': 'text/html', ...iso }).end('<!doctype html><title>bench</title>');
    } else if (m && fixtures.some((f) => f.name === m[1])) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', ...iso }).end(fixtures.find((f) => f.name === m[1])!.bytes);
    } else if (path.startsWith('/demo/')) {
      const r = await mount.get(path.slice('/demo/'.length));
      if (!r) return void res.writeHead(404).end();
      res.writeHead(r.status, Object.fromEntries(r.headers)).end(Buffer.from(await r.arrayBuffer()));
    } else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const load0 = os.loadavg();
  const t0 = Date.now();
  const node = await nodePaths();
  const { results: browser, browser: version } = await browserPaths(baseUrl);
  server.close();
  const load1 = os.loadavg();
  const command = `node --import tsx bench/browser/run.ts${args.seconds ? ` --seconds ${args.seconds}` : args.quick ? ' --quick' : ''}`;
  const report = {
    benchmark: 'browser', date: new Date().toISOString(), command, revision: sourceRevision(ROOT), seconds,
    machine: describeMachine(ROOT, load0), chromium: version, loadavg: { before: load0, after: load1 }, tookSeconds: Math.round((Date.now() - t0) / 1000),
    paths: [...browser, ...node],
  };
  writeFileSync(join(ROOT, 'bench/results/browser.json'), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(join(ROOT, 'bench/results/browser.md'), render(report));
  console.log(render(report));
}

function render(r: { date: string; command: string; revision: string; machine: ReturnType<typeof describeMachine>; chromium: string; loadavg: { before: number[]; after: number[] }; seconds: number; paths: PathResult[] }): string {
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  const ms = (x: number) => (x < 1 ? x.toFixed(3) : x < 100 ? x.toFixed(2) : x.toFixed(0));
  const lines = [
    '# bench/browser: local inference in headless Chromium vs Node',
    '',
    `${r.date} · ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.memoryGiB} GiB · ${r.machine.os} · Chromium ${r.chromium} (Debian) · load average ${r.loadavg.before.map((x) => x.toFixed(2)).join(' ')} before, ${r.loadavg.after.map((x) => x.toFixed(2)).join(' ')} after (a shared machine: compare paths within this run, not across runs).`,
    '',
    `Command: \`${r.command}\` · code ${r.revision} · node ${r.machine.runtimes.node}, onnxruntime-web ${r.machine.onnxruntime['onnxruntime-web']}, onnxruntime-node ${r.machine.onnxruntime['onnxruntime-node']}.`,
    '',
    `Each cell: ${r.seconds} s of back-to-back calls after 0.2 s of warm-up; one call scores \`batch\` rows (the golden rows tiled). rows/s = rows ÷ wall time; p50 / p99 per call, ms.`,
    '',
    '- **chromium:web-wasm / web-webgpu**: `createLocalModel(...).predict(records)` on the page: records cross to the module worker (comlink), the core scores them (features → tensors → onnxruntime-web → post-processing), results come back. The full app-facing path. WASM: 2 threads (cross-origin isolated page). WebGPU: SwiftShader, a CPU implementation of Vulkan; on a real GPU the numbers differ entirely.',
    '- **node:native-cpu / node:web-wasm**: `Model.predict(records)` in process (bench/core\'s predict path), same models and rows; no worker hop.',
    '',
    '| path | reason / detail |',
    '| --- | --- |',
    ...r.paths.map((p) => `| ${p.path} | ${p.error ? `**failed**: ${p.error}` : p.detail} |`),
    '',
  ];
  for (const f of MODELS) {
    lines.push(`## ${f}`, '', `| batch | ${r.paths.map((p) => p.path).join(' | ')} |`, `| ---: | ${r.paths.map(() => '---:').join(' | ')} |`);
    for (const b of BATCHES) {
      lines.push(`| ${b} | ${r.paths.map((p) => {
        const c = p.cells[key(f, b)];
        return c ? `${n(c.rowsPerSec)} rows/s<br>${ms(c.p50)} / ${ms(c.p99)} ms` : '–';
      }).join(' | ')} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

await main();
process.exit(0);
