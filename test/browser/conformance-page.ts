/**
 * The conformance suite (test/conformance/conformance.case.ts) in a Chromium page: the cases
 * Node, Bun, Deno and workerd run, on onnxruntime-web's two backends as the browser client
 * uses them (the WASM-SIMD build, and the JSEP build for WebGPU), with test/fixtures/ bundled
 * in. Not run from source: test/browser/conformance.test.ts bundles it, serves it with
 * onnxruntime-web's files under `ort/`, and runs each case by name through
 * `globalThis.conformance.run(name)`.
 * @module
 */
import { files } from 'omniserve:conformance-fixtures';
import { detectHost } from '../../src/backends/host.ts';
import type { OrtModule } from '../../src/backends/onnxruntime.ts';
import { createWebBackends } from '../../src/backends/web.ts';
import { createBrowserWorkerApi } from '../../runtimes/browser/worker-api.ts';
import { createEngine, isOmniserveError, tensorFromNumbers, type RuntimeAdapter } from '../../src/index.ts';
import { bundledFixtures } from '../conformance/bundled-fixtures.ts';
import { runConformance } from '../conformance/conformance.case.ts';

const fixtures = bundledFixtures(files);
const wasmPaths = new URL('ort/', location.href).href;

const runtime = (): RuntimeAdapter => ({
  host: detectHost(globalThis),
  // The builds the browser client loads (runtimes/browser/worker-api.ts), one thread.
  backends: createWebBackends({
    threads: 1,
    wasm: { wasmPaths },
    loadWasm: () => import('onnxruntime-web/wasm') as unknown as Promise<OrtModule>,
    loadWebGpu: () => import('onnxruntime-web') as unknown as Promise<OrtModule>,
  }),
  readFile: fixtures.readFile,
});

const cases = new Map<string, () => Promise<void>>();
for (const backend of ['web-wasm', 'web-webgpu'] as const) {
  runConformance((name, fn) => cases.set(name, fn), { host: 'browser', backend, runtime, fixtures });
}

/**
 * A WebGPU device that claims `shader-f16` without having it (SwiftShader's, seen through a
 * proxy that answers yes for every feature), so the load-time float16 check lets a Cast to
 * float16 through and the device rejects its pipeline at run time: what omniserve must do
 * with GPU work the device refuses, whatever the cause. Four loads of the Cast round trip:
 * pinned (the warm-up's refusal fails the load), `auto` over that WebGPU and WASM (it lands
 * on WASM), pinned without a warm-up (the refusal fails the run), and `auto` without a
 * warm-up (the refused run moves the model to WASM and is answered there). Each answers what
 * it gave: an error's code, message and details, or the backend and the numbers it answered.
 * Last, the last case through the browser client's worker API: its first answer says the
 * model moved, and why.
 */
async function refusedRun(): Promise<Record<string, unknown>> {
  const real = await import('onnxruntime-web') as unknown as OrtModule;
  const realGpu = real.env.webgpu as unknown as { device: object | Promise<object> };
  const webgpu = {
    get device() {
      return Promise.resolve(realGpu.device).then((d) => new Proxy(d, {
        get(t, k) {
          if (k === 'features') return { has: () => true };
          const v = Reflect.get(t, k, t) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
        },
      }));
    },
  };
  const lying = { ...real, env: Object.assign(Object.create(real.env) as object, { webgpu }) } as unknown as OrtModule;
  const x = () => ({ x: tensorFromNumbers('float32', [0.1, 1.5, -2.5, 1000.7], [1, 4]) });
  const attempt = async (request: 'web-webgpu' | 'auto', config?: unknown) => {
    const backends = createWebBackends({
      threads: 1, wasm: { wasmPaths }, loadWebGpu: async () => lying,
      loadWasm: () => import('onnxruntime-web/wasm') as unknown as Promise<OrtModule>,
    });
    const engine = createEngine({ host: detectHost(globalThis), backends, readFile: fixtures.readFile }, { backend: request });
    try {
      const model = await engine.models.load({ source: fixtures.source('models/half-inside.onnx'), ...(config ? { config } : {}) });
      const out = await model.infer(x());
      return { backend: model.backend.id, skipped: model.metadata.skippedBackends, answered: [...(out['y']!.data as Float32Array)] };
    } catch (e) {
      return isOmniserveError(e) ? { code: e.code, message: e.message, details: e.details } : { message: String(e) };
    } finally {
      await engine.close();
    }
  };
  // The browser client's worker API (here on the page): its answers say when the model moved.
  const viaWorkerApi = async () => {
    const api = createBrowserWorkerApi({ loadWebGpu: async () => lying, loadWasm: () => import('onnxruntime-web/wasm') as unknown as Promise<OrtModule> });
    try {
      const loaded = await api.load({
        model: { bytes: fixtures.bytes('models/half-inside.onnx') }, backend: 'auto', config: { warmup: 0 },
        wasmPaths, limitBytes: 1 << 26, threads: 1, cacheName: false, outputs: true,
      });
      const record = { x: [0.1, 1.5, -2.5, 1000.7] };
      const first = await api.predict([record]);
      const second = await api.predict([record]);
      return { loadedOn: loaded.backend, first: { backend: first.backend, moved: first.moved, y: first.predictions[0]?.outputs?.['y'] }, second: { backend: second.backend, moved: second.moved } };
    } catch (e) {
      return isOmniserveError(e) ? { code: e.code, message: e.message } : { message: String((e as { message?: unknown }).message ?? e) };
    } finally {
      await api.close();
    }
  };
  return {
    pinned: await attempt('web-webgpu'), auto: await attempt('auto'), noWarmup: await attempt('web-webgpu', { warmup: 0 }),
    autoNoWarmup: await attempt('auto', { warmup: 0 }), workerApi: await viaWorkerApi(),
  };
}

/**
 * A batch too large for the device: a WebGPU device (seen through a proxy) on which buffers
 * omniserve makes of more than 8 KiB, once armed after the load, are asked for at more than
 * the device's `maxBufferSize`. The device refuses them (a validation error, in the run's
 * error scope), so the feeder's input buffer for 256 rows of the breast-cancer model (30 KiB)
 * is refused, as for 128, while 64 rows (7.5 KiB) fit. Under `auto` and pinned, the 256 rows
 * must be answered on WebGPU, in parts, equal to WASM's answers; a second batch goes in parts
 * at once (no oversized buffer asked for again).
 */
async function oversizedRun(): Promise<Record<string, unknown>> {
  const real = await import('onnxruntime-web') as unknown as OrtModule;
  const realGpu = real.env.webgpu as unknown as { device: object | Promise<object> };
  let armed = false;
  let oversized = 0;
  const webgpu = {
    get device() {
      return Promise.resolve(realGpu.device).then((d) => new Proxy(d, {
        get(t, k) {
          const device = t as { createBuffer(d: { size: number }): unknown; limits: { maxBufferSize: number } };
          if (k === 'createBuffer') {
            return (desc: { size: number }) => {
              if (!armed || desc.size <= 8192) return device.createBuffer(desc);
              oversized++;
              return device.createBuffer({ ...desc, size: device.limits.maxBufferSize + 16 });
            };
          }
          const v = Reflect.get(t, k, t) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
        },
      }));
    },
  };
  const limited = { ...real, env: Object.assign(Object.create(real.env) as object, { webgpu }) } as unknown as OrtModule;
  const records = Array.from({ length: 256 }, (_, i) => ({ features: Array.from({ length: 30 }, (_, j) => 10 + 8 * Math.sin(i * 31 + j)) }));
  const logits = (rs: readonly { outputs: Record<string, unknown> }[]) => rs.map((r) => r.outputs['logit'] as number);
  const score = async (request: 'web-webgpu' | 'auto' | 'web-wasm') => {
    const backends = createWebBackends({
      threads: 1, wasm: { wasmPaths }, loadWebGpu: async () => limited,
      loadWasm: () => import('onnxruntime-web/wasm') as unknown as Promise<OrtModule>,
    });
    const engine = createEngine({ host: detectHost(globalThis), backends, readFile: fixtures.readFile }, { backend: request });
    try {
      const model = await engine.models.load({ source: fixtures.source('models/breast-cancer.onnx') });
      armed = true;
      oversized = 0;
      const first = logits(await model.predict(records));
      const afterFirst = oversized;
      const second = logits(await model.predict(records.slice(0, 200)));
      return { backend: model.backend.id, skipped: model.metadata.skippedBackends, first, second, oversized: afterFirst, oversizedAgain: oversized - afterFirst };
    } catch (e) {
      return isOmniserveError(e) ? { code: e.code, message: e.message, details: e.details } : { message: String(e) };
    } finally {
      armed = false;
      await engine.close();
    }
  };
  return { wasm: await score('web-wasm'), auto: await score('auto'), pinned: await score('web-webgpu') };
}

(globalThis as { conformance?: unknown }).conformance = {
  refusedRun,
  oversizedRun,
  names: [...cases.keys()],
  async run(name: string): Promise<{ ok: boolean; error?: string }> {
    const fn = cases.get(name);
    if (!fn) return { ok: false, error: `no case named ${JSON.stringify(name)}` };
    try {
      await fn();
      return { ok: true };
    } catch (e) {
      return { ok: false, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
    }
  },
};
