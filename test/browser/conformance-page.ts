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
 * with GPU work the device refuses, whatever the cause. Three loads of the Cast round trip:
 * pinned (the warm-up's refusal fails the load), `auto` over that WebGPU and WASM (it lands
 * on WASM), and pinned without a warm-up (the refusal fails the run). Each answers what it
 * gave: an error's code, message and details, or the backend and the numbers it answered.
 */
async function refusedRun(): Promise<Record<string, { code?: string; message?: string; details?: unknown; backend?: string; skipped?: unknown; answered?: number[] }>> {
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
  return { pinned: await attempt('web-webgpu'), auto: await attempt('auto'), noWarmup: await attempt('web-webgpu', { warmup: 0 }) };
}

(globalThis as { conformance?: unknown }).conformance = {
  refusedRun,
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
