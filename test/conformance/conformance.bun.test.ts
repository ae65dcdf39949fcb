// Conformance on Bun (run by `bun test`): onnxruntime-node CPU.
import { test } from 'bun:test';
import { createNativeRuntime } from '../../runtimes/native/runtime.ts';
import { runConformance } from './conformance.case.ts';
import { nodeFixtures } from './node-fixtures.ts';

runConformance((name, fn) => test(name, fn, 120_000), { host: 'bun', backend: 'native-cpu', runtime: () => createNativeRuntime(), fixtures: nodeFixtures });
