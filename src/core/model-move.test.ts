// A model whose WebGPU device refuses a run after the load moves to the request's next
// backend, retries the run there and stays; pinned, or with nowhere to go, the error stands.
// A batch the device cannot take whole (out of memory, or over a size limit) is first run
// in parts on the same device.
// The refusing device is simulated here (a "web-webgpu" backend over onnxruntime-node's CPU
// session whose runs fail as onnxruntime.ts reports a device refusal), so every rule can be
// driven; test/browser/conformance.test.ts shows the same move in Chromium on a real
// WebGPU device that refuses the GPU work.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { createNativeRuntime } from '../../runtimes/native/runtime.ts';
import type { Backend, InferenceHandle } from '../backends/types.ts';
import type { BackendRequest } from '../backends/registry.ts';
import { createEngine, type Engine } from '../engine.ts';
import { Errors, isOmniserveError } from '../errors.ts';

const FIXTURES = new URL('../../test/fixtures/', import.meta.url);
const BYTES = new Uint8Array(readFileSync(new URL('models/breast-cancer.onnx', FIXTURES)));
const golden = JSON.parse(readFileSync(new URL('goldens/breast-cancer.json', FIXTURES), 'utf8')) as {
  inputs: { features: { data: number[] } };
  outputs: { logit: { data: number[] } };
};
const row = (i: number) => ({ features: golden.inputs.features.data.slice(i * 30, (i + 1) * 30) });
const T = { timeout: 60_000 };

/** What the simulated device did. */
interface Device {
  /** Runs it lets through before refusing every later one (the warm-up counts). */
  allow: number;
  runs: number;
  refused: number;
  released: number;
  /** Refuse with a plain run failure instead (not the device's refusal). */
  plainFailure?: boolean;
  /** After `allow` runs, refuse only runs of more rows than this, as out of memory (`details.outOfMemory`). */
  maxRows?: number;
  /** With `maxRows`: refuse as a validation error instead (a buffer over the device's limit), without `details.outOfMemory`. */
  validation?: boolean;
  /** Rows of every run the device was given, refused or not. */
  sizes?: number[];
}

/** A web-webgpu backend whose sessions are the CPU's, refusing runs as `device` says. */
function refusingGpu(cpu: Backend, device: Device): Backend {
  return {
    id: 'web-webgpu', package: 'onnxruntime-web', provider: 'webgpu', device: 'gpu',
    // The CPU session underneath must have been probed (onnxruntime.ts loads the package there).
    probe: async () => ({ ...(await cpu.probe()), adapter: 'simulated' }),
    async createSession(bytes, options) {
      const inner = await cpu.createSession(bytes, options);
      const handle: InferenceHandle = {
        inputs: inner.inputs, outputs: inner.outputs,
        async run(feeds) {
          const rows = Object.values(feeds)[0]!.dims[0]!;
          device.sizes?.push(rows);
          if (device.maxRows !== undefined && device.runs++ >= device.allow) {
            if (rows <= device.maxRows) return inner.run(feeds);
            device.refused++;
            if (device.validation) {
              throw Errors.INFERENCE_FAILED("inference failed on web-webgpu: the WebGPU device refused the run's GPU work (validation): buffer size over the limit (simulated)",
                { backend: 'web-webgpu', deviceRefused: true });
            }
            throw Errors.INFERENCE_FAILED("inference failed on web-webgpu: the WebGPU device refused the run's GPU work (out of memory): simulated",
              { backend: 'web-webgpu', deviceRefused: true, outOfMemory: true });
          }
          if (device.maxRows === undefined && device.runs++ >= device.allow) {
            device.refused++;
            if (device.plainFailure) throw Errors.INFERENCE_FAILED('inference failed on web-webgpu: out of range', { backend: 'web-webgpu' });
            throw Errors.INFERENCE_FAILED("inference failed on web-webgpu: WebGPU device refused the run's GPU work (out-of-memory): simulated",
              { backend: 'web-webgpu', deviceRefused: true });
          }
          return inner.run(feeds);
        },
        async release() {
          device.released++;
          await inner.release();
        },
      };
      return handle;
    },
  };
}

/** An engine whose backends are the refusing "GPU", then (unless `alone`) the real CPU; sessions made on the CPU counted. */
async function withEngine(request: BackendRequest, device: Device, fn: (e: Engine, cpuSessions: () => number) => Promise<void>, alone = false): Promise<void> {
  const native = createNativeRuntime();
  const realCpu = native.backends.find((b) => b.id === 'native-cpu')!;
  let cpuSessions = 0;
  const cpu: Backend = { ...realCpu, probe: () => realCpu.probe(), createSession: (b, o) => (cpuSessions++, realCpu.createSession(b, o)) };
  const engine = createEngine({ ...native, backends: alone ? [refusingGpu(realCpu, device)] : [refusingGpu(realCpu, device), cpu] }, { backend: request });
  try {
    await fn(engine, () => cpuSessions);
  } finally {
    await engine.close();
  }
}

const refusal = (e: unknown) => isOmniserveError(e, 'INFERENCE_FAILED') && e.details?.['deviceRefused'] === true;

test('auto: the first refused run moves the model to the next backend, is answered there, and later runs stay there', T, async () => {
  const device: Device = { allow: 1, runs: 0, refused: 0, released: 0 };
  await withEngine('auto', device, async (e, cpuSessions) => {
    const m = await e.models.load({ source: BYTES, name: 'bc' });
    assert.equal(m.backend.id, 'web-webgpu', 'the warm-up passed: loaded on the "GPU"');
    assert.equal(cpuSessions(), 0);
    const [first] = await m.predict([row(3)]);
    assert.equal(m.backend.id, 'native-cpu');
    assert.equal(m.metadata.backend, 'native-cpu');
    assert.equal(device.refused, 1);
    assert.ok(Math.abs((first!.outputs['logit'] as number) - golden.outputs.logit.data[3]!) < 1e-4, JSON.stringify(first));
    const skipped = m.metadata.skippedBackends!;
    assert.equal(skipped.length, 1);
    assert.equal(skipped[0]!.backend, 'web-webgpu');
    assert.match(skipped[0]!.reason, /^the device refused a run after the load: .*refused the run's GPU work \(out-of-memory\)/);
    // The refused session is freed once no run is in flight; later runs never reach it.
    const results = await m.predict([row(4), row(5)]);
    assert.equal(device.runs, 2);
    assert.equal(device.released, 1);
    assert.equal(cpuSessions(), 1);
    results.forEach((r, i) => assert.ok(Math.abs((r.outputs['logit'] as number) - golden.outputs.logit.data[4 + i]!) < 1e-4));
    // The registry's view and the OIP metadata follow the model.
    assert.equal(e.models.get('bc').backend.id, 'native-cpu');
  });
});

test('auto: concurrent refused runs share one move, and every one of them is answered', T, async () => {
  const device: Device = { allow: 1, runs: 0, refused: 0, released: 0 };
  await withEngine('auto', device, async (e, cpuSessions) => {
    const m = await e.models.load({ source: BYTES, name: 'bc' });
    const all = await Promise.all(Array.from({ length: 8 }, (_, i) => m.predict([row(i)])));
    assert.equal(cpuSessions(), 1, 'one session on the next backend');
    assert.equal(device.refused, 8);
    all.forEach(([r], i) => assert.ok(Math.abs((r!.outputs['logit'] as number) - golden.outputs.logit.data[i]!) < 1e-4, `row ${i}`));
    assert.equal(m.metadata.skippedBackends?.length, 1);
  });
});

test('pinned, a refused run fails with the device\'s reason and the model stays', T, async () => {
  const device: Device = { allow: 1, runs: 0, refused: 0, released: 0 };
  await withEngine('web-webgpu', device, async (e, cpuSessions) => {
    const m = await e.models.load({ source: BYTES, name: 'bc' });
    for (let i = 0; i < 2; i++) await assert.rejects(m.predict([row(1)]), refusal);
    assert.equal(m.backend.id, 'web-webgpu');
    assert.equal(m.metadata.skippedBackends, undefined);
    assert.equal(cpuSessions(), 0);
  });
});

test('auto with nowhere to go: the refusal stands, and no second move is tried', T, async () => {
  const device: Device = { allow: 1, runs: 0, refused: 0, released: 0 };
  await withEngine('auto', device, async (e) => {
    const m = await e.models.load({ source: BYTES, name: 'bc' });
    await assert.rejects(m.predict([row(1)]), refusal);
    await assert.rejects(m.predict([row(1)]), refusal);
    assert.equal(m.backend.id, 'web-webgpu');
    assert.equal(device.refused, 2);
  }, true);
});

test('a run that fails for another reason does not move the model', T, async () => {
  const device: Device = { allow: 1, runs: 0, refused: 0, released: 0, plainFailure: true };
  await withEngine('auto', device, async (e, cpuSessions) => {
    const m = await e.models.load({ source: BYTES, name: 'bc' });
    await assert.rejects(m.predict([row(1)]), (err: unknown) => isOmniserveError(err, 'INFERENCE_FAILED') && err.details?.['deviceRefused'] === undefined);
    assert.equal(m.backend.id, 'web-webgpu');
    assert.equal(cpuSessions(), 0);
  });
});

test('a refused warm-up still fails the load and auto loads on the next backend (not a move)', T, async () => {
  const device: Device = { allow: 0, runs: 0, refused: 0, released: 0 };
  await withEngine('auto', device, async (e) => {
    const m = await e.models.load({ source: BYTES, name: 'bc' });
    assert.equal(m.backend.id, 'native-cpu');
    assert.match(m.metadata.skippedBackends![0]!.reason, /cannot run on web-webgpu/);
    assert.doesNotMatch(m.metadata.skippedBackends![0]!.reason, /after the load/);
  });
});

// Out of memory on a batch: the run is split along the batch dimension on the same device.
const rows = (from: number, n: number) => Array.from({ length: n }, (_, i) => row(from + i));
const matchGolden = (results: readonly { outputs: Record<string, unknown> }[], from = 0) =>
  results.forEach((r, i) => assert.ok(Math.abs((r.outputs['logit'] as number) - golden.outputs.logit.data[from + i]!) < 1e-4, `row ${from + i}: ${JSON.stringify(r.outputs)}`));

test('auto: a batch the device has no memory for is run in halves on the same device, and later batches go in parts at once', T, async () => {
  const device: Device = { allow: 1, runs: 0, refused: 0, released: 0, maxRows: 8, sizes: [] };
  await withEngine('auto', device, async (e, cpuSessions) => {
    const m = await e.models.load({ source: BYTES, name: 'bc' });
    matchGolden(await m.predict(rows(0, 32)));
    assert.equal(m.backend.id, 'web-webgpu', 'no move: every part ran on the "GPU"');
    assert.equal(cpuSessions(), 0);
    assert.equal(m.metadata.skippedBackends, undefined);
    // 32 refused, 16 refused, 8 + 8, then the second 16 goes in parts at once: 8 + 8 twice more.
    assert.deepEqual(device.sizes!.slice(1), [32, 16, 8, 8, 8, 8]);
    assert.equal(device.refused, 2);
    device.sizes!.length = 0;
    matchGolden(await m.predict(rows(5, 20)), 5);
    assert.deepEqual(device.sizes, [8, 8, 4], 'the size that failed is remembered: no refused run first');
    assert.equal(device.refused, 2);
    matchGolden(await m.predict(rows(2, 3)), 2);
  });
});

test('pinned, a batch too large for the device is still answered, in parts', T, async () => {
  const device: Device = { allow: 1, runs: 0, refused: 0, released: 0, maxRows: 5, sizes: [] };
  await withEngine('web-webgpu', device, async (e) => {
    const m = await e.models.load({ source: BYTES, name: 'bc' });
    matchGolden(await m.predict(rows(0, 32)));
    assert.equal(m.backend.id, 'web-webgpu');
    assert.ok(device.sizes!.slice(1).every((n, i) => n <= 5 || i < 3), JSON.stringify(device.sizes));
    assert.equal(device.sizes!.slice(1).filter((n) => n <= 5).reduce((a, b) => a + b, 0), 32, 'every row ran once');
  });
});

test('auto: when even one row is refused for memory, the model moves to the next backend as before', T, async () => {
  const device: Device = { allow: 1, runs: 0, refused: 0, released: 0, maxRows: 0, sizes: [] };
  await withEngine('auto', device, async (e, cpuSessions) => {
    const m = await e.models.load({ source: BYTES, name: 'bc' });
    matchGolden(await m.predict(rows(0, 4)));
    assert.equal(m.backend.id, 'native-cpu');
    assert.equal(cpuSessions(), 1);
    assert.match(m.metadata.skippedBackends![0]!.reason, /after the load: .*out of memory/);
  });
});

test('a refusal that is not for memory splits a run larger than one the device answered (a size limit), and no other run', T, async () => {
  // The warm-up answered one row: a refused run of 32 may be over a size limit, so it is split.
  const sized: Device = { allow: 1, runs: 0, refused: 0, released: 0, maxRows: 8, validation: true, sizes: [] };
  await withEngine('auto', sized, async (e, cpuSessions) => {
    const m = await e.models.load({ source: BYTES, name: 'bc' });
    matchGolden(await m.predict(rows(0, 32)));
    assert.equal(m.backend.id, 'web-webgpu');
    assert.equal(cpuSessions(), 0);
    assert.deepEqual(sized.sizes!.slice(1), [32, 16, 8, 8, 8, 8]);
  });
  // No warm-up, so nothing answered yet: a refusal then is the device's, whatever the size
  // (a feature it lacks): the model moves at once, with no split tried.
  const lacking: Device = { allow: 0, runs: 0, refused: 0, released: 0, sizes: [] };
  await withEngine('auto', lacking, async (e) => {
    const m = await e.models.load({ source: BYTES, name: 'bc', config: { warmup: 0 } });
    assert.equal(m.backend.id, 'web-webgpu');
    matchGolden(await m.predict(rows(0, 32)));
    assert.deepEqual(lacking.sizes, [32], 'one refused run, then the next backend');
    assert.equal(m.backend.id, 'native-cpu');
  });
});
