/**
 * bench/gpu: what one GPU→CPU read-back costs on Deno's navigator.gpu (wgpu), apart from
 * onnxruntime-web: a compute pass of a given length, a 256-byte copy, then `mapAsync`. Each
 * case is timed from `submit` to the resolved `mapAsync`: called at once (as onnxruntime-web
 * does); after the GPU is surely done (a 100 ms timer first: what is left is the host's own
 * wait); and at once while an empty `queue.submit([])` every millisecond polls the device.
 * On an H200 Deno 2.9 gave GPU work + ~11.4 ms, and 11.4 ms with the GPU long done.
 *
 *   deno run -A bench/gpu/map-probe.ts [--iterations 1,100000,1000000] [--json OUT.json]
 *
 * `--iterations`: the loop length per GPU thread of each case (65,536 threads; on an H200 a
 * million dependent multiply-adds take ~48 ms).
 * @module
 */
import { writeFileSync } from 'node:fs';
import process from 'node:process';
import { MAP_PROBE_SCHEMA } from './lib.ts';

const opt = (name: string) => (process.argv.indexOf(name) >= 0 ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const out = opt('--json');
const iterationList = (opt('--iterations') ?? '1,100000,1000000').split(',').map(Number);
if (!iterationList.every((n) => Number.isInteger(n) && n >= 1)) throw new Error(`--iterations ${opt('--iterations')}: expected positive integers`);
// navigator.gpu, typed loosely: the project's TypeScript settings carry no WebGPU types.
// deno-lint-ignore no-explicit-any
type Loose = any;
const gpu = (globalThis.navigator as unknown as { gpu?: Loose }).gpu;
// GPUBufferUsage and GPUMapMode bits.
const STORAGE = 0x80, UNIFORM = 0x40, COPY_DST = 0x08, COPY_SRC = 0x04, MAP_READ = 0x01, READ = 0x01;
const report: Record<string, unknown> = { schema: MAP_PROBE_SCHEMA, host: `deno ${Deno.version.deno}` };
const save = () => { if (out) writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`); };
const adapter: Loose = await gpu?.requestAdapter();
if (!adapter) {
  report['error'] = 'no WebGPU adapter';
  save();
  console.error('map-probe: no WebGPU adapter');
  process.exit(0);
}
report['adapter'] = adapter.info?.description ?? adapter.info?.vendor;
const device: Loose = await adapter.requestDevice();
const N = 64 * 1024;
const buf = device.createBuffer({ size: N * 4, usage: STORAGE | COPY_SRC });
const rd = device.createBuffer({ size: 256, usage: MAP_READ | COPY_DST });
const params = device.createBuffer({ size: 16, usage: UNIFORM | COPY_DST });
const module = device.createShaderModule({
  code: `@group(0) @binding(0) var<storage, read_write> b: array<f32>;
@group(0) @binding(1) var<uniform> p: vec4u;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  var x = b[g.x];
  for (var i = 0u; i < p.x; i++) { x = x * 0.999 + 0.001; }
  b[g.x] = x;
}`,
});
const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: buf } }, { binding: 1, resource: { buffer: params } }] });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * While set, the device is polled every millisecond by an empty `queue.submit([])` (wgpu
 * runs its completion callbacks on a submit): whether a read-back can finish sooner than the
 * host's own polling lets it.
 */
let pump: ReturnType<typeof setInterval> | undefined;

async function once(iterations: number, delayMs: number): Promise<number> {
  device.queue.writeBuffer(params, 0, new Uint32Array([iterations, 0, 0, 0]));
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bind);
  pass.dispatchWorkgroups(N / 64);
  pass.end();
  enc.copyBufferToBuffer(buf, 0, rd, 0, 256);
  const t0 = performance.now();
  device.queue.submit([enc.finish()]);
  if (delayMs) await sleep(delayMs);
  const m0 = performance.now();
  await rd.mapAsync(READ);
  const t1 = performance.now();
  rd.getMappedRange();
  rd.unmap();
  return delayMs ? t1 - m0 : t1 - t0;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const cases: Record<string, unknown>[] = [];
report['cases'] = cases;
for (const iterations of iterationList) {
  for (const [delayMs, pumped] of [[0, false], [100, false], [0, true]] as const) {
    if (pumped) pump = setInterval(() => device.queue.submit([]), 1);
    try {
      await once(iterations, delayMs);
      const ms: number[] = [];
      for (let i = 0; i < (delayMs ? 8 : 20); i++) ms.push(await once(iterations, delayMs));
      const c = { iterations, mapAfterMs: delayMs, pumped, mapAsyncMs: { min: Math.min(...ms), p50: median(ms), max: Math.max(...ms) } };
      cases.push(c);
      console.error(`map-probe: ${iterations} iterations, mapAsync ${delayMs ? `after ${delayMs} ms` : 'at once'}${pumped ? ', device polled every 1 ms' : ''}: p50 ${c.mapAsyncMs.p50.toFixed(2)} ms (min ${c.mapAsyncMs.min.toFixed(2)}, max ${c.mapAsyncMs.max.toFixed(2)})`);
    } finally {
      if (pump !== undefined) clearInterval(pump);
      pump = undefined;
    }
    save();
  }
}
device.destroy();
save();
