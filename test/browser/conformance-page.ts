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
import type { RuntimeAdapter } from '../../src/index.ts';
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

(globalThis as { conformance?: unknown }).conformance = {
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
