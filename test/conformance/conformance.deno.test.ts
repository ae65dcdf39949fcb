// Conformance on Deno (run by `deno test -A`): onnxruntime-node CPU, onnxruntime-web WASM
// and onnxruntime-web WebGPU (Mesa's llvmpipe Vulkan device where no GPU exists).
import { createNativeRuntime } from '../../runtimes/native/runtime.ts';
import { runConformance } from './conformance.case.ts';
import { nodeFixtures } from './node-fixtures.ts';

for (const backend of ['native-cpu', 'web-wasm', 'web-webgpu'] as const) {
  // onnxruntime keeps thread pools and WebGPU devices alive across tests by design.
  runConformance((name, fn) => Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false }), {
    host: 'deno', backend, runtime: () => createNativeRuntime(), fixtures: nodeFixtures,
  });
}
