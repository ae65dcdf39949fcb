/**
 * onnxruntime-web's WASM backend from a precompiled `WebAssembly.Module`, for hosts that
 * refuse to compile WebAssembly from bytes at run time (Cloudflare Workers / workerd).
 *
 * onnxruntime-web 1.30 hands emscripten only `numThreads`, `wasmBinary` and `locateFile`:
 * emscripten's own `instantiateWasm` hook is not reachable through `env.wasm`. With
 * `wasmBinary` set, the glue skips every fetch and calls
 * `WebAssembly.instantiate(new Uint8Array(wasmBinary), imports)` once. So `wasmBinary` is a
 * small marker buffer, and while the backend initialises, `WebAssembly.instantiate`
 * answers a call with that marker by instantiating the precompiled module with the glue's
 * imports; any other call goes to the real function untouched.
 *
 * Web-API-only: workerd imports the module as a CompiledWasm module; tests on Node pass
 * `WebAssembly.compile(bytes)`.
 * @module
 */
import { createOrtBackend, type OrtModule } from '../../src/backends/onnxruntime.ts';
import type { Backend } from '../../src/backends/types.ts';

/** What the glue passes in place of the WASM bytes: recognisable, not valid WebAssembly. */
const MARKER = new TextEncoder().encode('omniserve:precompiled-onnxruntime-wasm');

type Instantiate = typeof WebAssembly.instantiate;

/** Options for {@link createPrecompiledWasmBackend}. */
export interface PrecompiledWasmOptions {
  /** Loads onnxruntime-web's WASM build with the emscripten glue embedded (`onnxruntime-web/wasm`). */
  readonly loadOrt: () => Promise<OrtModule>;
  /** `ort-wasm-simd-threaded.wasm` of the same onnxruntime-web version, compiled. */
  readonly module: WebAssembly.Module;
  /** Called with every `WebAssembly.instantiate` the hook answered (tests count them). */
  readonly onInstantiate?: (kind: 'precompiled' | 'passed-through') => void;
}

/** True when `source` is (a copy of, or a view on) the marker. */
function isMarker(source: unknown): boolean {
  let bytes: Uint8Array;
  if (source instanceof Uint8Array) bytes = source;
  else if (source instanceof ArrayBuffer) bytes = new Uint8Array(source);
  else return false;
  if (bytes.byteLength !== MARKER.byteLength) return false;
  for (let i = 0; i < MARKER.byteLength; i++) if (bytes[i] !== MARKER[i]) return false;
  return true;
}

/**
 * Wraps `WebAssembly.instantiate` until the returned function is called. Only the marker
 * is intercepted, so anything else instantiating WebAssembly meanwhile is unaffected.
 */
function interceptInstantiate(o: PrecompiledWasmOptions): () => void {
  const original: Instantiate = WebAssembly.instantiate;
  const hooked = function instantiate(source: unknown, imports?: WebAssembly.Imports): Promise<unknown> {
    if (isMarker(source)) {
      o.onInstantiate?.('precompiled');
      // The emscripten glue reads `{ instance, module }`, the bytes overload's result shape.
      return original.call(WebAssembly, o.module, imports).then((instance) => ({ instance, module: o.module }));
    }
    o.onInstantiate?.('passed-through');
    return (original as (s: unknown, i?: WebAssembly.Imports) => Promise<unknown>).call(WebAssembly, source, imports);
  } as Instantiate;
  WebAssembly.instantiate = hooked;
  return () => {
    if (WebAssembly.instantiate === hooked) WebAssembly.instantiate = original;
  };
}

/**
 * The `web-wasm` backend (one thread, no proxy worker) instantiating `o.module`. The probe
 * is what first initialises onnxruntime-web's WASM, so the hook lives exactly that long;
 * sessions created later reuse the instance.
 */
export function createPrecompiledWasmBackend(o: PrecompiledWasmOptions): Backend {
  const base = createOrtBackend({
    id: 'web-wasm', package: 'onnxruntime-web', provider: 'wasm', device: 'cpu',
    load: async () => {
      const ort = await o.loadOrt();
      const wasm = (ort.env.wasm ??= {});
      // Threads would need SharedArrayBuffer workers and the proxy a Worker: neither exists.
      wasm['numThreads'] = 1;
      wasm['proxy'] = false;
      // A fresh copy each time: emscripten may keep (or transfer) what it was given.
      wasm['wasmBinary'] = MARKER.slice().buffer;
      return ort;
    },
  });
  return {
    ...base,
    async probe() {
      const restore = interceptInstantiate(o);
      try {
        return await base.probe();
      } finally {
        restore();
      }
    },
  };
}
