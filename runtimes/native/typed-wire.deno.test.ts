// On Deno, a 150 MB typed array (a large model's bytes) crosses a node:worker_threads port
// through nodeEndpoint both ways; Deno's own port fails on it ("Invalid array length").
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { nodeEndpoint } from './worker-pool.ts';

Deno.test({ name: 'deno: a 150 MB Uint8Array and a Float32Array view cross a worker_threads port', sanitizeOps: false, sanitizeResources: false, fn: async () => {
  const worker = new Worker(new URL('../../test/support/typed-wire-echo.worker.ts', import.meta.url));
  try {
    const api = Comlink.wrap<{ describe(x: { bytes: Uint8Array; part: Float32Array }): { kind: string; length: number; last: number; part: Float32Array; partKind: string } }>(nodeEndpoint(worker));
    const bytes = new Uint8Array(150_000_000);
    bytes[bytes.length - 1] = 7;
    const floats = new Float32Array([1, 2, 3, 4, 5]);
    const got = await api.describe({ bytes, part: floats.subarray(1, 4) });
    assert.deepEqual({ kind: got.kind, length: got.length, last: got.last, partKind: got.partKind }, { kind: 'Uint8Array', length: 150_000_000, last: 7, partKind: 'Float32Array' });
    assert.ok(got.part instanceof Float32Array, 'typed arrays come back typed');
    assert.deepEqual([...got.part], [2, 3, 4]);
  } finally {
    await worker.terminate();
  }
} });
