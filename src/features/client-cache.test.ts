/**
 * The client-side feature cache's rules, with a hand-driven store: what is kept, what an
 * invalidation or flush during a read does to that read's reply, bounds and expiry.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createClientCache } from './client-cache.ts';
import type { FeatureValues } from './types.ts';

type Values = (FeatureValues | null)[];

/** A store whose reads are answered by hand; `reads` records what each read asked for. */
function handStore(data: Record<string, FeatureValues | null>) {
  const reads: string[][] = [];
  const held: { keys: readonly string[]; answer: () => void; fail: (e: Error) => void }[] = [];
  const load = (keys: readonly string[]) => new Promise<Values>((resolve, reject) => {
    reads.push([...keys]);
    // The values as they are when the read is answered, like Redis's reply.
    const snapshot = keys.map((k) => data[k] ?? null);
    held.push({ keys, answer: () => resolve(snapshot), fail: reject });
  });
  const answerAll = () => { for (const h of held.splice(0)) h.answer(); };
  return { reads, held, load, answerAll };
}

/** A load that answers at once from `data`. */
const instant = (data: Record<string, FeatureValues | null>, reads: string[][] = []) =>
  async (keys: readonly string[]): Promise<Values> => { reads.push([...keys]); return keys.map((k) => data[k] ?? null); };

test('a key read once is served from memory (missing keys too); only the keys not held are read, in one call', async () => {
  const data = { 'user:1': { a: 1 }, 'item:2': { b: 2 } };
  const reads: string[][] = [];
  const c = createClientCache();
  assert.deepEqual(await c.getMany(['user:1', 'user:404'], instant(data, reads)), [{ a: 1 }, null]);
  assert.deepEqual(await c.getMany(['user:1', 'item:2', 'user:404'], instant(data, reads)), [{ a: 1 }, { b: 2 }, null]);
  assert.deepEqual(reads, [['user:1', 'user:404'], ['item:2']]);
  assert.deepEqual(await c.getMany(['item:2', 'user:1'], instant(data, reads)), [{ b: 2 }, { a: 1 }]);
  assert.equal(reads.length, 2, 'all held: no read');
  assert.deepEqual({ hits: c.stats.hits, misses: c.stats.misses }, { hits: 4, misses: 3 });
  assert.deepEqual(await c.getMany([], instant(data, reads)), []);
});

test('a key asked twice in one call is read once and answered in both places', async () => {
  const reads: string[][] = [];
  const c = createClientCache();
  assert.deepEqual(await c.getMany(['user:1', 'user:1', 'item:1'], instant({ 'user:1': { a: 1 } }, reads)), [{ a: 1 }, { a: 1 }, null]);
  assert.deepEqual(reads, [['user:1', 'item:1']]);
});

test('an invalidated key is read again and its new value served', async () => {
  const data: Record<string, FeatureValues> = { 'user:1': { a: 1 } };
  const c = createClientCache();
  await c.getMany(['user:1'], instant(data));
  data['user:1'] = { a: 2 };
  assert.deepEqual(await c.getMany(['user:1'], instant(data)), [{ a: 1 }], 'held until Redis says otherwise');
  c.invalidate(['user:1', 'user:never-read']);
  assert.deepEqual(await c.getMany(['user:1'], instant(data)), [{ a: 2 }]);
  assert.equal(c.stats.invalidations, 2);
});

test('an invalidation that arrives while its key is being read: the reply is served to its callers but not kept', async () => {
  const data: Record<string, FeatureValues> = { 'user:1': { a: 1 }, 'user:2': { b: 1 } };
  const s = handStore(data);
  const c = createClientCache();
  const pending = c.getMany(['user:1', 'user:2'], s.load);
  // Redis read the old value, then the key was written and the invalidation came first.
  data['user:1'] = { a: 2 };
  c.invalidate(['user:1']);
  s.answerAll();
  assert.deepEqual(await pending, [{ a: 1 }, { b: 1 }]);
  assert.equal(c.stats.raced, 1);
  const again = c.getMany(['user:1', 'user:2'], s.load);
  s.answerAll();
  assert.deepEqual(await again, [{ a: 2 }, { b: 1 }]);
  assert.deepEqual(s.reads, [['user:1', 'user:2'], ['user:1']], 'user:2 was kept, user:1 was not');
  const third = await c.getMany(['user:1'], s.load);
  assert.deepEqual(third, [{ a: 2 }]);
  assert.equal(s.reads.length, 2, 'the re-read value is kept');
});

test('two reads of one key in flight, invalidated between them: neither reply is kept', async () => {
  const data: Record<string, FeatureValues> = { 'user:1': { a: 1 } };
  const s = handStore(data);
  const c = createClientCache();
  const first = c.getMany(['user:1'], s.load);
  c.invalidate(['user:1']);
  data['user:1'] = { a: 2 };
  const second = c.getMany(['user:1'], s.load);
  s.held[0]!.answer();
  await first;
  s.held[1]!.answer();
  await second;
  assert.equal(c.size, 0, 'the dirty mark lasts until the last read of the key is answered');
  const third = c.getMany(['user:1'], s.load);
  assert.equal(s.reads.length, 3, 'read again');
  s.held[2]!.answer();
  assert.deepEqual(await third, [{ a: 2 }]);
});

test('a flush (null) empties the cache, and replies of reads begun before it are not kept', async () => {
  const data: Record<string, FeatureValues> = { 'user:1': { a: 1 }, 'user:2': { b: 1 } };
  const s = handStore(data);
  const c = createClientCache();
  const first = c.getMany(['user:1'], s.load);
  s.answerAll();
  await first;
  const during = c.getMany(['user:2'], s.load);
  c.invalidate(null);
  s.answerAll();
  await during;
  assert.equal(c.size, 0);
  const after = c.getMany(['user:2'], s.load);
  s.answerAll();
  await after;
  assert.equal(c.size, 1, 'reads begun after the flush are kept');
});

test('a failed read keeps nothing and leaves no read marks behind', async () => {
  const s = handStore({ 'user:1': { a: 1 } });
  const c = createClientCache();
  const failing = c.getMany(['user:1'], s.load);
  s.held[0]!.fail(new Error('down'));
  await assert.rejects(failing, /down/);
  const ok = c.getMany(['user:1'], s.load);
  s.held[1]!.answer();
  assert.deepEqual(await ok, [{ a: 1 }]);
  assert.equal(c.size, 1, 'kept: the failed read left no dirty or reading mark');
});

test('ttlMs bounds staleness; maxEntries evicts the least recently used', async () => {
  let t = 0;
  const reads: string[][] = [];
  const data = { 'user:1': { a: 1 }, 'user:2': { a: 2 }, 'user:3': { a: 3 } };
  const c = createClientCache({ ttlMs: 100, maxEntries: 2, now: () => t });
  await c.getMany(['user:1', 'user:2'], instant(data, reads));
  t = 50;
  await c.getMany(['user:1'], instant(data, reads)); // user:1 is now the most recent
  await c.getMany(['user:3'], instant(data, reads)); // evicts user:2
  assert.equal(c.size, 2);
  await c.getMany(['user:1', 'user:3'], instant(data, reads));
  assert.equal(reads.length, 2, 'user:1 and user:3 held');
  await c.getMany(['user:2'], instant(data, reads));
  assert.deepEqual(reads.at(-1), ['user:2'], 'user:2 was evicted');
  t = 160;
  await c.getMany(['user:3'], instant(data, reads));
  assert.deepEqual(reads.at(-1), ['user:3'], 'user:3, read at t=50, expired at t=150');
});

test('onLookup is told the hits and misses of every lookup', async () => {
  const seen: [number, number][] = [];
  const c = createClientCache({ onLookup: (h, m) => seen.push([h, m]) });
  await c.getMany(['user:1', 'item:1'], instant({}));
  await c.getMany(['user:1', 'item:2'], instant({}));
  assert.deepEqual(seen, [[0, 2], [1, 1]]);
});
