// Conformance on Node: onnxruntime-node CPU and onnxruntime-web WASM.
import { test } from 'node:test';
import { createNativeRuntime } from '../../runtimes/native/runtime.ts';
import { runConformance } from './conformance.case.ts';
import { nodeFixtures } from './node-fixtures.ts';

for (const backend of ['native-cpu', 'web-wasm'] as const) {
  runConformance((name, fn) => test(name, { timeout: 120_000 }, fn), { host: 'node', backend, runtime: () => createNativeRuntime(), fixtures: nodeFixtures });
}
