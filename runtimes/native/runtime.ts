/**
 * The runtime adapter shared by Node, Bun and Deno: file access through `node:fs`,
 * onnxruntime-node backends first, then onnxruntime-web's.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { createWebBackends, detectHost, type RuntimeAdapter } from '../../src/index.ts';
import { createNativeBackends, hasNvidiaDevice } from './backends.ts';

/** Builds the adapter for a Node-API host. `webThreads`: WASM threads for web-wasm. */
export function createNativeRuntime(opts: { webThreads?: number } = {}): RuntimeAdapter {
  return {
    host: detectHost(globalThis, { nvidiaDevice: hasNvidiaDevice() }),
    backends: [...createNativeBackends(), ...createWebBackends({ threads: opts.webThreads })],
    readFile: async (path) => new Uint8Array(await readFile(path)),
    fetch: globalThis.fetch?.bind(globalThis),
  };
}
