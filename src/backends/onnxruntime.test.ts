/**
 * The onnxruntime adapter's session options, over a stand-in module that records what
 * InferenceSession.create is given (the sessions themselves are tested on the real packages
 * by the conformance suite): threads and spinning reach onnxruntime-node as its options say.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createOrtBackend, type OrtModule } from './onnxruntime.ts';

function recordingModule(seen: unknown[]): OrtModule {
  const session = {
    inputMetadata: [], outputMetadata: [],
    run: async () => ({ y: { data: new Float32Array([16, 20]) } }),
    release: async () => {},
  };
  return {
    InferenceSession: { create: async (_m: Uint8Array, options?: unknown) => { seen.push(options); return session as never; } },
    Tensor: class { constructor(readonly type: string, readonly data: unknown, readonly dims: readonly number[]) {} } as never,
    env: { versions: { node: 'test' } },
  };
}

async function optionsFor(pkg: 'onnxruntime-node' | 'onnxruntime-web', session: Parameters<ReturnType<typeof createOrtBackend>['createSession']>[1]) {
  const seen: unknown[] = [];
  const b = createOrtBackend({ id: pkg === 'onnxruntime-node' ? 'native-cpu' : 'web-wasm', package: pkg, provider: pkg === 'onnxruntime-node' ? 'cpu' : 'wasm', device: 'cpu', load: async () => recordingModule(seen) });
  await b.probe();
  await b.createSession(new Uint8Array(8), session);
  return seen.at(-1) as Record<string, unknown>;
}

test('spinning: false turns the intra-op pool\'s spin-wait off on onnxruntime-node; unset leaves onnxruntime\'s default', async () => {
  const off = await optionsFor('onnxruntime-node', { threads: 2, spinning: false });
  assert.equal(off['intraOpNumThreads'], 2);
  assert.deepEqual(off['extra'], { session: { intra_op: { allow_spinning: '0' } } });
  const unset = await optionsFor('onnxruntime-node', { threads: 2 });
  assert.equal(unset['extra'], undefined);
  const on = await optionsFor('onnxruntime-node', { spinning: true });
  assert.equal(on['extra'], undefined);
  assert.equal(on['intraOpNumThreads'], undefined);
  const web = await optionsFor('onnxruntime-web', { threads: 2, spinning: false });
  assert.equal(web['extra'], undefined, 'onnxruntime-web has no intra-op pool to configure this way');
  assert.equal(web['intraOpNumThreads'], undefined);
});
