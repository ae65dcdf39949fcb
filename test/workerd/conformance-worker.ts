/**
 * The conformance suite (test/conformance/conformance.case.ts) inside workerd: the cases Node,
 * Bun and Deno run, on the Workers bundle's backend (onnxruntime-web WASM instantiated from a
 * CompiledWasm module, as runtimes/workerd/worker.ts does), with test/fixtures/ bundled in.
 * Not run from source: test/workerd/conformance.test.ts bundles it and asks it to run each
 * case by name (`POST /run` with the name as the body); the answer is `{ ok: true }` or
 * `{ ok: false, error }`.
 * @module
 */
import * as ort from 'onnxruntime-web/wasm';
import ortWasm from './ort-wasm-simd-threaded.wasm';
import { files } from 'omniserve:conformance-fixtures';
import { detectHost } from '../../src/backends/host.ts';
import type { OrtModule } from '../../src/backends/onnxruntime.ts';
import type { RuntimeAdapter } from '../../src/index.ts';
import { createPrecompiledWasmBackend } from '../../runtimes/workerd/precompiled-wasm.ts';
import { bundledFixtures } from '../conformance/bundled-fixtures.ts';
import { runConformance } from '../conformance/conformance.case.ts';

const fixtures = bundledFixtures(files);

// One backend for the isolate, as the Workers handler has: onnxruntime-web initialises once.
const backend = createPrecompiledWasmBackend({ loadOrt: async () => ort as unknown as OrtModule, module: ortWasm });

const runtime = (): RuntimeAdapter => ({
  host: detectHost(globalThis),
  backends: [backend],
  readFile: fixtures.readFile,
});

const cases = new Map<string, () => Promise<void>>();
runConformance((name, fn) => cases.set(name, fn), { host: 'workerd', backend: 'web-wasm', runtime, fixtures });

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (request.method === 'GET' && url.pathname === '/cases') return Response.json([...cases.keys()]);
    if (request.method !== 'POST' || url.pathname !== '/run') return new Response('not found', { status: 404 });
    const name = await request.text();
    const fn = cases.get(name);
    if (!fn) return Response.json({ ok: false, error: `no case named ${JSON.stringify(name)}` }, { status: 404 });
    try {
      await fn();
      return Response.json({ ok: true });
    } catch (e) {
      return Response.json({ ok: false, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
    }
  },
};
