/**
 * bench/gpu, one backend in one process: raw session runs (omniserve's `InferenceHandle.run`:
 * tensors in, every output read back to the CPU) of each model at each batch size: the first
 * run, a warm-up, then back-to-back runs for a fixed time. Runs on Node (`node --import tsx`,
 * or the bundle `.gpu/measure.mjs` that bench/gpu/prepare.sh builds) and Deno (`deno run -A`).
 *
 *   measure.ts --backend native-webgpu|native-cpu|web-webgpu|web-wasm|native-cuda
 *              --model A.onnx[,B.onnx] [--batches 1,64,1024,8192] [--seconds 2] [--warmup 0.5]
 *              [--max-run-s 10] [--max-input-mib 1024] [--budget-s 120] [--json OUT.json]
 *              [--label NAME] [--web-build webgpu|jsep] [--ort-web-dir DIR]
 *
 * `--pump-ms N` (web-webgpu): an empty `queue.submit([])` on onnxruntime-web's device every N
 * ms while measuring (wgpu runs completion callbacks on a submit): whether Deno's `mapAsync`
 * answers sooner when something else polls the device (see map-probe.ts).
 *
 * `--web-build`: onnxruntime-web's `webgpu` build (1.30: the WebGPU EP compiled to WASM,
 * ort-wasm-simd-threaded.asyncify.wasm) or `jsep` (the older JavaScript kernels, the `all`
 * build, ort-wasm-simd-threaded.jsep.wasm). `--ort-web-dir`: load onnxruntime-web's bundle
 * from that folder (the carried `.gpu/ort-web/`) instead of resolving the package.
 *
 * Never crashes on a missing backend or a failing batch: the report says `available: false`
 * with the reason, or marks the case `failed`/`skipped` with its reason, and the exit code
 * is 0. Exit 2 only for bad arguments.
 * @module
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import process from 'node:process';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { BackendRegistry, createWebBackends, detectHost, messageOf, type Backend, type BackendId, type InferenceHandle, type OrtModule, type TensorData } from '../../src/index.ts';
import { BACKEND_IDS } from '../../src/backends/types.ts';
import { createNativeBackends, hasNvidiaDevice } from '../../runtimes/native/backends.ts';
import { summarize } from '../core/stats.ts';
import {
  MEASURE_SCHEMA, parseBatches, positive, seededFloats, skipReason,
  type CaseResult, type MeasurePlan, type MeasureReport, type ModelResult,
} from './lib.ts';

const log = (line: string) => process.stderr.write(`${line}\n`);

function usage(message: string): never {
  log(`measure.ts: ${message}`);
  process.exit(2);
}

let args: Record<string, string | undefined>;
try {
  args = parseArgs({
    options: {
      backend: { type: 'string', default: 'native-cpu' },
      model: { type: 'string' },
      batches: { type: 'string', default: '1,64,1024,8192' },
      seconds: { type: 'string', default: '2' },
      warmup: { type: 'string', default: '0.5' },
      'max-run-s': { type: 'string', default: '10' },
      'max-input-mib': { type: 'string', default: '1024' },
      'budget-s': { type: 'string', default: '120' },
      json: { type: 'string' },
      label: { type: 'string' },
      'web-build': { type: 'string', default: 'webgpu' },
      'ort-web-dir': { type: 'string' },
      'pump-ms': { type: 'string' },
    },
  }).values as Record<string, string | undefined>;
} catch (e) {
  usage(messageOf(e));
}
const backendId = args['backend'] as BackendId;
if (!BACKEND_IDS.includes(backendId)) usage(`--backend ${backendId}: expected one of ${BACKEND_IDS.join(', ')}`);
if (!args['model']) usage('--model PATH[,PATH] is required');
const webBuild = args['web-build'];
if (webBuild !== 'webgpu' && webBuild !== 'jsep') usage(`--web-build ${webBuild}: expected webgpu or jsep`);
let plan: MeasurePlan;
try {
  plan = {
    batches: parseBatches(args['batches']!),
    seconds: positive('seconds', args['seconds']!),
    warmupSeconds: positive('warmup', args['warmup']!),
    maxRunMs: positive('max-run-s', args['max-run-s']!) * 1000,
    maxInputMiB: positive('max-input-mib', args['max-input-mib']!),
    budgetSeconds: positive('budget-s', args['budget-s']!),
  };
} catch (e) {
  usage(messageOf(e));
}
const modelPaths = args['model']!.split(',').filter((p) => p !== '');
const label = args['label'] ?? (backendId === 'web-webgpu' && webBuild === 'jsep' ? 'web-webgpu/jsep' : backendId);

/** onnxruntime-web, from the carried folder or the installed package. */
let webOrt: OrtModule | undefined;
function webLoader(build: 'webgpu' | 'jsep' | 'wasm'): () => Promise<OrtModule> {
  const file = { webgpu: 'ort.webgpu.bundle.min.mjs', jsep: 'ort.all.bundle.min.mjs', wasm: 'ort.wasm.bundle.min.mjs' }[build];
  const dir = args['ort-web-dir'];
  return async () => {
    const m = (dir
      ? await import(pathToFileURL(resolve(join(dir, file))).href)
      : build === 'jsep' ? await import('onnxruntime-web/all') : build === 'wasm' ? await import('onnxruntime-web') : await import('onnxruntime-web/webgpu')) as { default?: OrtModule };
    webOrt = (m.default ?? m) as OrtModule;
    return webOrt;
  };
}

const host = detectHost(globalThis, { nvidiaDevice: hasNvidiaDevice() });
const startedAt = new Date();
const t0 = performance.now();
const report: {
  -readonly [K in keyof MeasureReport]: MeasureReport[K];
} = {
  schema: MEASURE_SCHEMA, backend: backendId, label, host: { name: host.name, version: host.version ?? 'unknown' },
  available: false, plan, models: [], startedAt: startedAt.toISOString(),
};
const models: ModelResult[] = [];
report.models = models;
let gpuCalls: (() => GpuCallTotals) | undefined;

function save(): void {
  report.wallMs = Math.round(performance.now() - t0);
  if (args['json']) writeFileSync(args['json'], `${JSON.stringify(report, null, 2)}\n`);
}

/** navigator.gpu's adapter (Deno, browsers): what onnxruntime-web's kernels can use. */
async function describeWebGpu(): Promise<Record<string, unknown> | undefined> {
  const gpu = (globalThis.navigator as { gpu?: { requestAdapter(o?: object): Promise<unknown> } } | undefined)?.gpu;
  if (!gpu) return undefined;
  const out: Record<string, unknown> = {};
  for (const powerPreference of [undefined, 'high-performance'] as const) {
    try {
      const a = (await gpu.requestAdapter(powerPreference ? { powerPreference } : undefined)) as
        | { info?: Record<string, unknown>; features?: Iterable<string>; limits?: Record<string, number> }
        | null;
      const key = powerPreference ?? 'default';
      if (!a) { out[key] = null; continue; }
      const info = a.info ?? {};
      const limits: Record<string, number> = {};
      for (const k of ['maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxStorageBuffersPerShaderStage']) {
        if (a.limits && typeof a.limits[k] === 'number') limits[k] = a.limits[k]!;
      }
      out[key] = {
        vendor: info['vendor'], architecture: info['architecture'], device: info['device'], description: info['description'],
        isFallbackAdapter: info['isFallbackAdapter'], features: [...(a.features ?? [])].sort(), limits,
      };
    } catch (e) {
      out[powerPreference ?? 'default'] = { error: messageOf(e) };
    }
  }
  return out;
}

type GpuCallTotals = Record<string, { calls: number; ms: number }>;

/**
 * Counts and times the navigator.gpu calls onnxruntime-web makes (Deno, browsers), so the
 * report shows where a web-webgpu run's time goes: `mapAsync` holds the GPU work plus the
 * host's wait for it (Deno 2.9 blocks in a device poll, then sleeps 10 ms), `submit` the
 * hand-over. Returns a snapshot function, or undefined where the host has no WebGPU classes.
 */
function instrumentWebGpu(): (() => GpuCallTotals) | undefined {
  const g = globalThis as unknown as Record<string, { prototype: Record<string, unknown> } | undefined>;
  const totals: GpuCallTotals = {};
  const targets: [string, string][] = [
    ['GPUBuffer', 'mapAsync'], ['GPUBuffer', 'getMappedRange'], ['GPUQueue', 'submit'], ['GPUQueue', 'writeBuffer'],
    ['GPUQueue', 'onSubmittedWorkDone'], ['GPUDevice', 'popErrorScope'], ['GPUDevice', 'createBuffer'], ['GPUDevice', 'createBindGroup'],
  ];
  let wrapped = 0;
  for (const [cls, name] of targets) {
    const proto = g[cls]?.prototype;
    const orig = proto?.[name];
    if (!proto || typeof orig !== 'function') continue;
    const t = (totals[name] = { calls: 0, ms: 0 });
    proto[name] = function (this: unknown, ...a: unknown[]) {
      const s = performance.now();
      const r = (orig as (...x: unknown[]) => unknown).apply(this, a);
      t.calls += 1;
      if (r && typeof (r as Promise<unknown>).then === 'function') {
        return (r as Promise<unknown>).then((v) => { t.ms += performance.now() - s; return v; });
      }
      t.ms += performance.now() - s;
      return r;
    };
    wrapped += 1;
  }
  if (wrapped === 0) return undefined;
  return () => Object.fromEntries(Object.entries(totals).map(([k, v]) => [k, { ...v }]));
}

function perRun(before: GpuCallTotals, after: GpuCallTotals, runs: number): Record<string, { perRun: number; msPerRun: number }> {
  const out: Record<string, { perRun: number; msPerRun: number }> = {};
  for (const [k, v] of Object.entries(after)) {
    const calls = v.calls - (before[k]?.calls ?? 0);
    if (calls === 0) continue;
    out[k] = { perRun: calls / runs, msPerRun: (v.ms - (before[k]?.ms ?? 0)) / runs };
  }
  return out;
}

/** Feeds for `batch` rows: every input float32 with a fixed per-row shape, seeded values. */
function feedsFor(handle: InferenceHandle, batch: number): Record<string, TensorData> {
  const feeds: Record<string, TensorData> = {};
  handle.inputs.forEach((spec, i) => {
    if (spec.dtype !== 'float32') throw new Error(`input ${spec.name} is ${spec.dtype}; bench/gpu feeds float32 only`);
    const row = spec.shape.slice(1);
    if (!row.every((d): d is number => typeof d === 'number')) throw new Error(`input ${spec.name} has a symbolic non-batch dimension: ${JSON.stringify(spec.shape)}`);
    const n = row.reduce((a, b) => a * b, 1);
    feeds[spec.name] = { dtype: 'float32', data: seededFloats(batch * n, 1024 + i), dims: [batch, ...row] };
  });
  return feeds;
}

function rowShape(handle: InferenceHandle): number[] {
  return handle.inputs[0]?.shape.slice(1).map((d) => (typeof d === 'number' ? d : -1)) ?? [];
}

/** The first values of the first row of the first output; throws when the output is not `batch` rows or not finite. */
function outputHead(out: Record<string, TensorData>, batch: number): number[] {
  const first = Object.values(out)[0];
  if (!first) throw new Error('the run returned no output');
  if (first.dims[0] !== batch) throw new Error(`output has ${first.dims[0]} rows, expected ${batch}`);
  const perRow = first.dims.slice(1).reduce((a, b) => a * b, 1);
  const head = Array.from(first.data.slice(0, Math.min(4, perRow)) as ArrayLike<number>, Number);
  if (!head.every(Number.isFinite)) throw new Error(`output is not finite: ${head.join(', ')}`);
  // One finite check over the whole output too (a GPU kernel bug often shows as NaN far in).
  for (let i = 0; i < first.data.length; i += 1) if (!Number.isFinite(Number(first.data[i]))) throw new Error(`output[${i}] is ${first.data[i]}`);
  return head;
}

async function measureModel(backend: Backend, path: string): Promise<void> {
  const name = basename(path).replace(/\.onnx$/, '');
  const cases: CaseResult[] = [];
  const result: { -readonly [K in keyof ModelResult]: ModelResult[K] } = { model: name, path, cases };
  models.push(result);
  let handle: InferenceHandle;
  try {
    const bytes = new Uint8Array(readFileSync(path));
    const c0 = performance.now();
    handle = await backend.createSession(bytes);
    result.createMs = Math.round(performance.now() - c0);
    result.rowShape = rowShape(handle);
  } catch (e) {
    result.error = messageOf(e);
    log(`${label} × ${name}: did not load: ${result.error}`);
    save();
    return;
  }
  let last: { batch: number; p50Ms: number } | undefined;
  let stop: string | undefined;
  for (const batch of plan.batches) {
    if (stop) { cases.push({ batch, status: 'skipped', reason: stop }); continue; }
    let feeds: Record<string, TensorData>;
    try {
      const perRow = handle.inputs.reduce((s, spec) => s + spec.shape.slice(1).reduce<number>((a, d) => a * (typeof d === 'number' ? d : 1), 1) * 4, 0);
      const why = skipReason(plan, batch, perRow * batch, performance.now() - t0, last);
      if (why) {
        cases.push({ batch, status: 'skipped', reason: why });
        log(`${label} × ${name} @${batch}: skipped: ${why}`);
        continue;
      }
      feeds = feedsFor(handle, batch);
    } catch (e) {
      cases.push({ batch, status: 'failed', reason: messageOf(e) });
      stop = `batch ${batch} failed`;
      continue;
    }
    let firstRunMs: number | undefined;
    try {
      const f0 = performance.now();
      const out = await handle.run(feeds);
      firstRunMs = performance.now() - f0;
      const head = outputHead(out, batch);
      if (firstRunMs > plan.maxRunMs * 3) {
        // The first run compiles shaders and allocates; three times the run limit means this size is out of reach.
        cases.push({ batch, status: 'skipped', reason: `first run took ${(firstRunMs / 1000).toFixed(1)} s`, firstRunMs, outputHead: head });
        stop = `batch ${batch} took ${(firstRunMs / 1000).toFixed(1)} s for its first run`;
        continue;
      }
      const w0 = performance.now();
      do await handle.run(feeds); while (performance.now() - w0 < plan.warmupSeconds * 1000);
      const latencies: number[] = [];
      const calls0 = gpuCalls?.();
      const m0 = performance.now();
      let t = m0;
      do {
        const s = t;
        await handle.run(feeds);
        t = performance.now();
        latencies.push(t - s);
      } while (t - m0 < plan.seconds * 1000);
      const measurement = summarize(latencies, t - m0, batch);
      const calls = calls0 ? perRun(calls0, gpuCalls!(), latencies.length) : undefined;
      cases.push({ batch, status: 'ok', firstRunMs, measurement, outputHead: head, ...(calls && Object.keys(calls).length ? { gpuCalls: calls } : {}) });
      last = { batch, p50Ms: measurement.latencyMs.p50 };
      log(`${label} × ${name} @${batch}: ${measurement.rowsPerSec.toFixed(0)} rows/s, p50 ${measurement.latencyMs.p50.toFixed(2)} ms, ${measurement.runs} runs, first run ${firstRunMs.toFixed(1)} ms`);
    } catch (e) {
      cases.push({ batch, status: 'failed', reason: messageOf(e), ...(firstRunMs !== undefined ? { firstRunMs } : {}) });
      log(`${label} × ${name} @${batch}: failed: ${messageOf(e)}`);
      // A larger batch would fail the same way (memory, buffer limits) or worse.
      stop = `batch ${batch} failed`;
    }
    save();
  }
  await handle.release().catch(() => undefined);
}

try {
  const all = [
    ...createNativeBackends(),
    ...createWebBackends({ loadWebGpu: webLoader(webBuild === 'jsep' ? 'jsep' : 'webgpu'), loadWasm: webLoader('wasm') }),
  ];
  const registry = new BackendRegistry(all.filter((b) => b.id === backendId));
  report.webgpuAdapter = await describeWebGpu();
  if (backendId === 'web-webgpu') gpuCalls = instrumentWebGpu();
  let backend: Backend | undefined;
  try {
    backend = await registry.resolve(backendId);
    report.available = true;
    report.probe = registry.status().find((s) => s.id === backendId)?.info as Record<string, unknown> | undefined;
  } catch (e) {
    report.reason = registry.status().find((s) => s.id === backendId)?.reason ?? messageOf(e);
    log(`${label} on ${host.name} ${host.version}: unavailable: ${report.reason}`);
  }
  save();
  const pumpMs = args['pump-ms'] ? positive('pump-ms', args['pump-ms']) : undefined;
  if (backend && pumpMs !== undefined && backendId === 'web-webgpu') {
    const device = (await webOrt?.env.webgpu?.device) as { queue: { submit(b: unknown[]): void } } | undefined;
    if (device) setInterval(() => device.queue.submit([]), pumpMs);
    else log(`${label}: --pump-ms: onnxruntime-web has no device`);
  }
  if (backend) {
    log(`${label} on ${host.name} ${host.version}: ${JSON.stringify(report.probe)}`);
    for (const path of modelPaths) await measureModel(backend, path);
  }
} catch (e) {
  report.reason = `measure.ts stopped: ${messageOf(e)}`;
  log(report.reason);
}
save();
process.exit(0);
