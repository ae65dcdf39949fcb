// A worker thread for typed-wire.deno.test.ts: answers with what it received, through
// nodeEndpoint on both ends.
import { parentPort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { nodeEndpoint } from '../../runtimes/native/worker-pool.ts';

Comlink.expose({
  describe(x: { bytes: Uint8Array; part: Float32Array }) {
    return { kind: x.bytes.constructor.name, length: x.bytes.length, last: x.bytes[x.bytes.length - 1], part: x.part, partKind: x.part.constructor.name };
  },
}, nodeEndpoint(parentPort!));
