// The dynamic batcher against a fake model run (counting calls and their sizes), and once
// against the real breast-cancer model.
import assert from 'node:assert/strict';
import process from 'node:process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { createEngine, Errors, isOmniserveError, type FeatureRecord } from '../index.ts';
import { createNativeRuntime } from '../../runtimes/native/runtime.ts';
import { DynamicBatcher, type BatcherOptions } from './batcher.ts';

interface Out { id: number; y: number }

/** A fake `run`: records every call, can hold runs at a gate, fails rows marked `bad`. */
function fake(opts: BatcherOptions & { delayMs?: number; gated?: boolean; crash?: unknown } = {}) {
  const calls: number[][] = [];
  const waiting: (() => void)[] = [];
  let open = !opts.gated;
  const load = { now: 0, peak: 0 };
  const run = async (records: readonly FeatureRecord[]): Promise<Out[]> => {
    calls.push(records.map((r) => r.id as number));
    load.peak = Math.max(load.peak, ++load.now);
    try {
      if (!open) await new Promise<void>((res) => waiting.push(res));
      if (opts.delayMs) await sleep(opts.delayMs);
    } finally {
      load.now--;
    }
    if (opts.crash !== undefined && records.length > 1) throw opts.crash;
    const bad = records.findIndex((r) => r.bad);
    if (bad >= 0) throw Errors.MISSING_FEATURE(`row ${bad}: missing feature "x"`, { row: bad, feature: 'x' });
    return records.map((r) => ({ id: r.id as number, y: (r.id as number) * 10 }));
  };
  const batcher = new DynamicBatcher(run, opts);
  return {
    batcher, calls, load,
    /** Lets every held run go, now and from now on. */
    release() { open = true; for (const w of waiting.splice(0)) w(); },
  };
}

const rows = (...ids: number[]): FeatureRecord[] => ids.map((id) => ({ id }));
/** Lets the batcher's end-of-turn flush (a microtask queued by submit) run. */
const tick = () => new Promise<void>((res) => queueMicrotask(res));
const code = (c: string) => (e: unknown) => isOmniserveError(e) && e.code === c;

test('coalesces concurrent submits: 50 single rows, maxBatchSize 16 → at most 5 runs of at most 16', async () => {
  const f = fake({ maxBatchSize: 16, delayMs: 5 });
  const out = await Promise.all(Array.from({ length: 50 }, (_, i) => f.batcher.submit(rows(i))));
  assert.ok(f.calls.length <= 5, `${f.calls.length} runs`);
  assert.ok(f.calls.length >= 4, 'could not be fewer than ceil(50/16)');
  for (const c of f.calls) assert.ok(c.length <= 16, `a run of ${c.length}`);
  assert.deepEqual(f.calls.flat().sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i));
  out.forEach((r, i) => assert.deepEqual(r, [{ id: i, y: i * 10 }]));
  assert.equal(f.batcher.batchesRun, f.calls.length);
  assert.equal(f.batcher.rowsRun, 50);
  assert.ok(f.batcher.requestsCoalesced >= 48, `${f.batcher.requestsCoalesced} coalesced`);
});

test('multi-row requests get exactly their rows back, in their order, FIFO and never split', async () => {
  const f = fake({ maxBatchSize: 8, gated: true });
  const first = f.batcher.submit(rows(0)); // dispatched alone at once (the model was idle)
  await sleep(10);
  const sizes = [3, 1, 4, 2, 5, 1];
  let next = 100;
  const reqs = sizes.map((n) => rows(...Array.from({ length: n }, () => next++)));
  const pending = reqs.map((r) => f.batcher.submit(r));
  f.release();
  const [r0, ...out] = await Promise.all([first, ...pending]);
  assert.deepEqual(r0, [{ id: 0, y: 0 }]);
  out.forEach((r, i) => assert.deepEqual(r, reqs[i]!.map((x) => ({ id: x.id as number, y: (x.id as number) * 10 }))));
  // 3+1+4 = 8 fills a batch; 2+5+1 = 8 the next one; no request straddles two runs.
  assert.deepEqual(f.calls.slice(1).map((c) => c.length), [8, 8]);
  assert.deepEqual(f.calls[1], [100, 101, 102, 103, 104, 105, 106, 107]);
});

test('maxDelayMs flushes a partial batch; maxDelayMs 0 dispatches at the end of the turn when idle', async () => {
  const f = fake({ maxBatchSize: 64, maxDelayMs: 30 });
  const t0 = performance.now();
  const p = f.batcher.submit(rows(1, 2, 3));
  await sleep(10);
  assert.equal(f.calls.length, 0, 'a partial batch waits for company');
  assert.equal(f.batcher.queueRows, 3);
  assert.deepEqual(await p, [{ id: 1, y: 10 }, { id: 2, y: 20 }, { id: 3, y: 30 }]);
  assert.ok(performance.now() - t0 >= 25, 'flushed by the delay timer, not earlier');
  assert.deepEqual(f.calls, [[1, 2, 3]]);

  const g = fake({ maxDelayMs: 0 });
  const q = g.batcher.submit(rows(7));
  assert.deepEqual(g.calls, [], 'not run inside submit: the rest of this turn may join');
  await tick();
  assert.deepEqual(g.calls, [[7]], 'run at the end of the turn when nothing is in flight, no timer');
  await q;

  // The default is 0: submits of one turn share a run (requests whose features arrived in
  // one Redis reply); what arrives during a run is the next batch.
  const d = fake({ gated: true });
  const together = [d.batcher.submit(rows(1)), d.batcher.submit(rows(2, 3))];
  await tick();
  assert.deepEqual(d.calls, [[1, 2, 3]], 'one run for the turn');
  const later = [d.batcher.submit(rows(4)), d.batcher.submit(rows(5, 6))];
  await tick();
  assert.equal(d.calls.length, 1, 'queued while the first run is in flight');
  d.release();
  await Promise.all([...together, ...later]);
  assert.deepEqual(d.calls, [[1, 2, 3], [4, 5, 6]]);
  // A full batch does not wait for the turn to end.
  const full = fake({ maxBatchSize: 2 });
  const both = full.batcher.submit(rows(8, 9));
  assert.deepEqual(full.calls, [[8, 9]], 'maxBatchSize rows dispatch at once');
  await both;
});

test('a full queue says OVERLOADED at once, and accepts again once drained', async () => {
  const f = fake({ maxBatchSize: 4, maxQueueRows: 10, maxDelayMs: 0, gated: true });
  const running = f.batcher.submit(rows(0, 1, 2, 3));
  assert.equal(f.batcher.inFlight, 1);
  const queued = [f.batcher.submit(rows(4, 5, 6, 7, 8, 9)), f.batcher.submit(rows(10, 11, 12, 13))];
  assert.equal(f.batcher.queueRows, 10);
  await assert.rejects(f.batcher.submit(rows(99)), (e: unknown) => {
    assert.ok(isOmniserveError(e, 'OVERLOADED'));
    assert.equal(e.status, 503);
    assert.deepEqual(e.details, { queueRows: 10, maxQueueRows: 10 });
    return true;
  });
  await assert.rejects(f.batcher.submit(rows(...Array.from({ length: 11 }, (_, i) => i))), code('BATCH_TOO_LARGE'));
  f.release();
  await Promise.all([running, ...queued, f.batcher.drain()]);
  assert.equal(f.batcher.queueRows, 0);
  assert.deepEqual(await f.batcher.submit(rows(99)), [{ id: 99, y: 990 }]);
});

test('a deadline passing while queued removes the request; while running, it rejects on time', async () => {
  const f = fake({ maxBatchSize: 2, maxDelayMs: 0, gated: true });
  const running = f.batcher.submit(rows(1, 2));
  const late = f.batcher.submit(rows(3), { deadline: Date.now() + 15 });
  const t0 = performance.now();
  await assert.rejects(late, (e: unknown) => isOmniserveError(e, 'DEADLINE_EXCEEDED') && e.details?.state === 'queued');
  assert.ok(performance.now() - t0 < 200, 'rejected at its deadline, not when the run ended');
  assert.equal(f.batcher.queueRows, 0);
  f.release();
  await running;
  await f.batcher.drain();
  assert.ok(!f.calls.flat().includes(3), 'an expired request never reaches the model');

  const g = fake({ maxBatchSize: 4, maxDelayMs: 0, delayMs: 60 });
  const slow = g.batcher.submit(rows(1), { deadline: Date.now() + 15 });
  await assert.rejects(slow, (e: unknown) => isOmniserveError(e, 'DEADLINE_EXCEEDED') && e.details?.state === 'running');
  await assert.rejects(g.batcher.submit(rows(2), { deadline: Date.now() - 1 }), code('DEADLINE_EXCEEDED'));
  await g.batcher.drain();
});

test('deadlines share one timer: a shorter deadline submitted later still expires on time, the rest are answered, no timer is left', async () => {
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const before = timers();
  const f = fake({ maxBatchSize: 1, maxDelayMs: 0, gated: true });
  const long = Array.from({ length: 50 }, (_, i) => f.batcher.submit(rows(i), { deadline: Date.now() + 60_000 }));
  assert.equal(timers() - before, 1, 'one timer for 50 deadlines');
  const t0 = performance.now();
  const short = f.batcher.submit(rows(99), { deadline: Date.now() + 20 });
  await assert.rejects(short, (e: unknown) => isOmniserveError(e, 'DEADLINE_EXCEEDED') && e.details?.state === 'queued');
  assert.ok(performance.now() - t0 < 500, `expired after ${Math.round(performance.now() - t0)} ms`);
  f.release();
  const out = await Promise.all(long);
  out.forEach((r, i) => assert.deepEqual(r, [{ id: i, y: i * 10 }]));
  await f.batcher.drain();
  assert.equal(timers(), before, 'no deadline timer outlives the requests');
});

test('an abort signal removes a queued request with the abort reason', async () => {
  const f = fake({ maxBatchSize: 1, maxDelayMs: 0, gated: true });
  const running = f.batcher.submit(rows(1));
  const ac = new AbortController();
  const queued = f.batcher.submit(rows(2), { signal: ac.signal });
  const reason = new Error('client went away');
  ac.abort(reason);
  await assert.rejects(queued, (e) => e === reason);
  assert.equal(f.batcher.queueRows, 0);
  await assert.rejects(f.batcher.submit(rows(3), { signal: AbortSignal.abort(reason) }), (e) => e === reason);
  // AbortSignal.timeout() is a deadline by another name. (Its timer is unref'd: sleep keeps
  // the event loop alive meanwhile.)
  await Promise.all([assert.rejects(f.batcher.submit(rows(4), { signal: AbortSignal.timeout(5) }), code('DEADLINE_EXCEEDED')), sleep(20)]);
  f.release();
  await running;
  await f.batcher.drain();
  assert.deepEqual(f.calls, [[1]], 'aborted requests never ran');
  // Aborted while running: the caller is answered now; the run itself goes on.
  const g = fake({ maxDelayMs: 0, gated: true });
  const ac2 = new AbortController();
  const started = g.batcher.submit(rows(5), { signal: ac2.signal });
  await tick();
  assert.equal(g.batcher.inFlight, 1);
  ac2.abort(reason);
  await assert.rejects(started, (e) => e === reason);
  g.release();
  await g.batcher.drain();
  assert.deepEqual(g.calls, [[5]]);
});

test('one bad request among 10 fails alone with its own error; a broken run fails all', async () => {
  const f = fake({ maxBatchSize: 64, maxDelayMs: 5 });
  const settled = await Promise.allSettled(Array.from({ length: 10 }, (_, i) =>
    f.batcher.submit(i === 6 ? [{ id: 60 }, { id: 61, bad: true }] : rows(i))));
  const ok = settled.filter((s) => s.status === 'fulfilled');
  assert.equal(ok.length, 9);
  settled.forEach((s, i) => {
    if (i === 6) {
      assert.equal(s.status, 'rejected');
      assert.ok(isOmniserveError(s.reason, 'MISSING_FEATURE'));
      assert.equal(s.reason.details?.row, 1, 'row number within its own request, not the merged batch');
    } else assert.deepEqual(s.status === 'fulfilled' && s.value, [{ id: i, y: i * 10 }]);
  });
  assert.equal(f.calls[0]!.length, 11, 'first tried as one merged run');
  assert.equal(f.calls.length, 11, 'then each request alone');

  for (const crash of [new Error('session crashed'), Errors.INFERENCE_FAILED('backend died')]) {
    const g = fake({ maxBatchSize: 64, maxDelayMs: 5, crash });
    const all = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => g.batcher.submit(rows(i))));
    assert.ok(all.every((s) => s.status === 'rejected' && s.reason === crash));
    assert.equal(g.calls.length, 1, 'no re-runs for errors the requests did not cause');
  }
});

test('a request bigger than maxBatchSize runs alone, in one run', async () => {
  const f = fake({ maxBatchSize: 4, maxDelayMs: 5 });
  const big = rows(...Array.from({ length: 10 }, (_, i) => 100 + i));
  const [a, b, c] = await Promise.all([f.batcher.submit(rows(1)), f.batcher.submit(big), f.batcher.submit(rows(2))]);
  assert.deepEqual(a, [{ id: 1, y: 10 }]);
  assert.deepEqual(b.map((r) => r.id), big.map((r) => r.id));
  assert.deepEqual(c, [{ id: 2, y: 20 }]);
  assert.deepEqual(f.calls.map((x) => x.length), [1, 10, 1]);
});

test('close() refuses new work with SHUTTING_DOWN, lets queued work finish; drain() waits', async () => {
  const f = fake({ maxBatchSize: 2, maxDelayMs: 1000, gated: true });
  const queued = [f.batcher.submit(rows(1)), f.batcher.submit(rows(2)), f.batcher.submit(rows(3))];
  let drained = false;
  const drain = f.batcher.drain().then(() => (drained = true));
  const closed = f.batcher.close();
  await assert.rejects(f.batcher.submit(rows(4)), (e: unknown) => isOmniserveError(e, 'SHUTTING_DOWN') && e.status === 503);
  assert.ok(f.batcher.closed);
  await sleep(10);
  assert.equal(drained, false, 'drain waits for in-flight and queued work');
  assert.deepEqual(f.calls, [[1, 2]], 'close flushed the queue without waiting maxDelayMs');
  f.release();
  await closed;
  await drain;
  assert.deepEqual(await Promise.all(queued), [[{ id: 1, y: 10 }], [{ id: 2, y: 20 }], [{ id: 3, y: 30 }]]);
  assert.equal(f.batcher.inFlight, 0);
  await new DynamicBatcher(async () => []).drain(); // idle: resolves at once
});

test('onBatch reports rows, time and requests; maxConcurrent runs overlap; bad options are INVALID_CONFIG', async () => {
  const seen: [number, number][] = [];
  const f = fake({ maxBatchSize: 3, maxDelayMs: 0, maxConcurrent: 2, delayMs: 20, onBatch: (n, ms, reqs) => seen.push([n, reqs]) });
  await Promise.all([f.batcher.submit(rows(1, 2, 3)), f.batcher.submit(rows(4, 5)), f.batcher.submit(rows(6)), f.batcher.submit(rows(7, 8))]);
  assert.deepEqual(f.calls, [[1, 2, 3], [4, 5, 6], [7, 8]]);
  assert.deepEqual(seen, [[3, 1], [3, 2], [2, 1]]);
  assert.equal(f.load.peak, 2, 'two runs overlapped, never three');
  const one = fake({ maxBatchSize: 1, maxDelayMs: 0, delayMs: 5 });
  await Promise.all([one.batcher.submit(rows(1)), one.batcher.submit(rows(2)), one.batcher.submit(rows(3))]);
  assert.equal(one.load.peak, 1, 'the default maxConcurrent is 1');
  const throws = new DynamicBatcher(async (r) => r.map(() => 1), { maxDelayMs: 0, onBatch: () => { throw new Error('metrics bug'); } });
  assert.deepEqual(await throws.submit(rows(1)), [1], 'a throwing hook does not fail the request');
  await assert.rejects(new DynamicBatcher(async () => [1, 2], { maxDelayMs: 0 }).submit(rows(1)), code('INFERENCE_FAILED'));
  for (const bad of [{ maxBatchSize: 0 }, { maxDelayMs: -1 }, { maxQueueRows: 1.5 }, { maxConcurrent: NaN }]) {
    assert.throws(() => new DynamicBatcher(async () => [], bad), code('INVALID_CONFIG'), JSON.stringify(bad));
  }
});

test('real model: 100 concurrent single-record submits match one direct predict, in fewer runs', { timeout: 120_000 }, async () => {
  const fixture = (p: string) => fileURLToPath(new URL(`../../test/fixtures/${p}`, import.meta.url));
  const golden = JSON.parse(readFileSync(fixture('goldens/breast-cancer.json'), 'utf8')) as { records: FeatureRecord[] };
  const records = Array.from({ length: 100 }, (_, i) => golden.records[i % golden.records.length]!);
  const engine = createEngine(createNativeRuntime());
  try {
    const model = await engine.models.load({ source: fixture('models/breast-cancer.onnx') });
    const direct = await model.predict(records);
    let runs = 0;
    const batcher = new DynamicBatcher((rs) => {
      runs++;
      return model.predict(rs);
    }, { maxBatchSize: 32 });
    const out = await Promise.all(records.map((r) => batcher.submit([r])));
    assert.ok(runs < 100 && runs <= 5, `${runs} runs for 100 requests`);
    out.forEach(([r], i) => {
      const got = r!.outputs.logit as number;
      const want = direct[i]!.outputs.logit as number;
      assert.ok(Math.abs(got - want) <= 1e-5 * Math.max(1, Math.abs(want)), `row ${i}: ${got} vs ${want}`);
      assert.equal(r!.label, direct[i]!.label);
    });
  } finally {
    await engine.close();
  }
});
