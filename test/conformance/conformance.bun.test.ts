// Conformance on Bun (run by `bun test`): onnxruntime-node CPU and onnxruntime-web WASM.
import { test } from 'bun:test';
import { createNativeRuntime } from '../../runtimes/native/runtime.ts';
import { runConformance } from './conformance.case.ts';
import { nodeFixtures } from './node-fixtures.ts';

for (const backend of ['native-cpu', 'web-wasm'] as const) {
  runConformance((name, fn) => test(name, fn, 120_000), { host: 'bun', backend, runtime: () => createNativeRuntime(), fixtures: nodeFixtures });
}
