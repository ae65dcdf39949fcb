// The hash reader over a socket: what it does when Redis is slow to answer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createServer, type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Buffer } from 'node:buffer';
import { createHashReader } from './redis-hash-reader.ts';

const bulk = (s: string) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
const hash = (fields: [string, string][]) => `*${fields.length * 2}\r\n${fields.map(([k, v]) => bulk(k) + bulk(v)).join('')}`;

// The reply deadline runs from the last progress: a reply that keeps coming in pieces, each
// within the deadline, is waited for; a reply that stops coming fails the connection a
// deadline after its last piece. A stand-in Redis on loopback sends the pieces.
async function trickle(pieces: string[], gapMs: number, commandTimeoutMs: number) {
  const server = createServer((sock) => {
    sock.once('data', async () => {
      for (const [i, p] of pieces.entries()) {
        if (i > 0) await sleep(gapMs);
        if (!sock.destroyed) sock.write(p);
      }
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const reader = createHashReader({ url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 1_000, commandTimeoutMs });
  const t0 = performance.now();
  try {
    const got = await reader.hgetall(['user:1']).then((r) => ({ ok: r }), (e: Error) => ({ error: e.message }));
    return { ...got, ms: performance.now() - t0 };
  } finally {
    reader.close();
    server.close();
  }
}

test('reply deadline: a reply trickling in faster than the deadline is waited for, one that stalls fails a deadline after its last piece', { timeout: 10_000 }, async () => {
  const reply = hash([['mean_radius', '13.5'], ['mean_texture', 'abc']]);
  const pieces = Array.from({ length: 6 }, (_, i) => reply.slice(Math.floor((i * reply.length) / 6), Math.floor(((i + 1) * reply.length) / 6)));
  // 6 pieces 150 ms apart: 750 ms in all, over the 400 ms deadline, but never 400 ms without progress.
  const slow = await trickle(pieces, 150, 400);
  assert.deepEqual('ok' in slow ? slow.ok.map((h) => ({ ...(h as object) })) : slow, [{ mean_radius: 13.5, mean_texture: 'abc' }]);
  assert.ok(slow.ms >= 700, `answered after ${Math.round(slow.ms)} ms`);
  // The first two pieces, then nothing: fails about 400 ms after the second piece (at ~150 ms).
  const stalled = await trickle(pieces.slice(0, 2), 150, 400);
  assert.ok('error' in stalled && /no reply within 400 ms/.test(stalled.error), JSON.stringify(stalled));
  assert.ok(stalled.ms >= 540 && stalled.ms < 1_500, `failed after ${Math.round(stalled.ms)} ms`);
});
