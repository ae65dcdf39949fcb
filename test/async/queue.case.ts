/**
 * One behaviour suite for every JobQueue driver (src/queue/memory-queue.test.ts and
 * runtimes/native/redis-queue.test.ts): the same promises, checked the same way.
 * @module
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JobQueue, QueueSettings } from '../../src/queue/types.ts';

/** What a driver's test file supplies. */
export interface QueueCaseOptions {
  /** A fresh, empty queue with these settings. */
  newQueue(settings: QueueSettings): Promise<JobQueue>;
  /** Request ids in the driver's dead-letter store. */
  deadIds(q: JobQueue): Promise<string[]>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const job = (n: number) => ({ model: 'm', request: { features: { x: n } } });
const IDLE = 300;

/** Registers the shared cases (call inside a describe). */
export function runQueueCases(o: QueueCaseOptions): void {
  const opened: JobQueue[] = [];
  const queue = async (s: QueueSettings = {}) => {
    const q = await o.newQueue({ claimIdleMs: IDLE, ...s });
    opened.push(q);
    return q;
  };
  const T = { timeout: 20_000 };

  test('submit → pending; claim → processing, attempt 1; complete → completed with the result', T, async () => {
    const q = await queue();
    const { request_id, duplicate } = await q.submit({ ...job(1), callback_url: 'https://example.test/hook' });
    assert.equal(duplicate, false);
    const pending = await q.get(request_id);
    assert.equal(pending?.status, 'pending');
    assert.equal(pending?.attempts, 0);
    assert.equal(pending?.callback_url, 'https://example.test/hook');
    assert.deepEqual(pending?.request, { features: { x: 1 } });
    const got = await q.claim('a', 10, { blockMs: 100 });
    assert.equal(got.jobs.length, 1);
    assert.equal(got.reclaimed, 0);
    assert.equal(got.jobs[0]!.job.status, 'processing');
    assert.equal(got.jobs[0]!.job.attempts, 1);
    assert.equal((await q.get(request_id))?.status, 'processing');
    const done = await q.complete(got.jobs[0]!, { probability: 0.25 });
    assert.equal(done.stored, true);
    const final = await q.get(request_id);
    assert.equal(final?.status, 'completed');
    assert.deepEqual(final?.result, { probability: 0.25 });
    assert.equal((await q.claim('a', 10, { blockMs: 50 })).jobs.length, 0, 'nothing left');
    assert.equal((await q.stats()).depth, 0);
    for (const q2 of opened.splice(0)) await q2.close();
  });

  test('an idempotency key repeats the first request_id; an unknown id is undefined', T, async () => {
    const q = await queue();
    const a = await q.submit(job(1), { idempotencyKey: 'k-1' });
    const b = await q.submit(job(2), { idempotencyKey: 'k-1' });
    const c = await q.submit(job(3), { idempotencyKey: 'k-2' });
    assert.equal(b.request_id, a.request_id);
    assert.equal(b.duplicate, true);
    assert.notEqual(c.request_id, a.request_id);
    assert.deepEqual((await q.get(a.request_id))?.request, { features: { x: 1 } }, 'the repeat stored nothing');
    assert.equal(await q.get('no-such-job'), undefined);
    assert.equal((await q.stats()).depth, 2);
    for (const q2 of opened.splice(0)) await q2.close();
  });

  test('a job held past claimIdleMs goes to another consumer; the first final result wins', T, async () => {
    const q = await queue();
    const { request_id } = await q.submit(job(1));
    const a = await q.claim('a', 10, { blockMs: 100 });
    assert.equal(a.jobs.length, 1);
    assert.equal((await q.claim('b', 10, { blockMs: 50 })).jobs.length, 0, 'not idle yet');
    await sleep(IDLE + 100);
    const b = await q.claim('b', 10, { blockMs: 50 });
    assert.equal(b.jobs.length, 1, 'reclaimed');
    assert.equal(b.reclaimed, 1);
    assert.equal(b.jobs[0]!.job.attempts, 2);
    assert.equal((await q.complete(a.jobs[0]!, { by: 'a' })).stored, true, 'the slow worker finishes first');
    const late = await q.complete(b.jobs[0]!, { by: 'b' });
    assert.equal(late.stored, false, 'a final result is never overwritten');
    assert.deepEqual(late.job.result, { by: 'a' });
    assert.deepEqual((await q.get(request_id))?.result, { by: 'a' });
    assert.equal((await q.stats()).depth, 0);
    for (const q2 of opened.splice(0)) await q2.close();
  });

  test('past maxDeliveries a job fails for good and is dead-lettered', T, async () => {
    const q = await queue({ maxDeliveries: 2 });
    const { request_id } = await q.submit(job(1));
    assert.equal((await q.claim('a', 10, { blockMs: 100 })).jobs[0]?.job.attempts, 1);
    await sleep(IDLE + 100);
    assert.equal((await q.claim('b', 10, { blockMs: 50 })).jobs[0]?.job.attempts, 2);
    await sleep(IDLE + 100);
    const third = await q.claim('c', 10, { blockMs: 50 });
    assert.equal(third.jobs.length, 0);
    assert.equal(third.dead.length, 1);
    const rec = await q.get(request_id);
    assert.equal(rec?.status, 'failed');
    assert.equal(rec?.error?.code, 'DELIVERY_LIMIT_EXCEEDED');
    assert.match(rec?.error?.error ?? '', /dead-letter/);
    assert.deepEqual(await o.deadIds(q), [request_id]);
    assert.equal((await q.stats()).depth, 0);
    for (const q2 of opened.splice(0)) await q2.close();
  });

  test('a non-final failure requeues with the error noted; a final one sticks', T, async () => {
    const q = await queue();
    const { request_id } = await q.submit(job(1));
    const first = await q.claim('a', 10, { blockMs: 100 });
    await q.fail(first.jobs[0]!, { error: 'busy', code: 'OVERLOADED' }, { final: false });
    const mid = await q.get(request_id);
    assert.equal(mid?.status, 'pending');
    assert.equal(mid?.error?.code, 'OVERLOADED');
    const second = await q.claim('a', 10, { blockMs: 100 });
    assert.equal(second.jobs[0]?.job.attempts, 2);
    await q.complete(second.jobs[0]!, { ok: true });
    const done = await q.get(request_id);
    assert.equal(done?.status, 'completed');
    assert.equal(done?.error, undefined, 'the old error is gone');

    const other = await q.submit(job(2));
    const c = await q.claim('a', 10, { blockMs: 100 });
    const f = await q.fail(c.jobs[0]!, { error: 'bad feature', code: 'INVALID_FEATURE_TYPE' }, { final: true });
    assert.equal(f.stored, true);
    assert.equal((await q.get(other.request_id))?.status, 'failed');
    assert.equal((await q.claim('a', 10, { blockMs: 50 })).jobs.length, 0);
    for (const q2 of opened.splice(0)) await q2.close();
  });

  test('records expire after ttlSeconds', T, async () => {
    const q = await queue({ ttlSeconds: 1 });
    const { request_id } = await q.submit(job(1));
    assert.ok(await q.get(request_id));
    await sleep(1_300);
    assert.equal(await q.get(request_id), undefined);
    // The expired job's entry is dropped, not run.
    assert.equal((await q.claim('a', 10, { blockMs: 50 })).jobs.length, 0);
    for (const q2 of opened.splice(0)) await q2.close();
  });

  test('stats: depth and the oldest job\'s age; claim hands out at most max, in order', T, async () => {
    const q = await queue();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await q.submit(job(i))).request_id);
    await sleep(50);
    const s = await q.stats();
    assert.equal(s.depth, 5);
    assert.ok(s.oldestAgeMs >= 40 && s.oldestAgeMs < 5_000, `oldest ${s.oldestAgeMs}`);
    const got = await q.claim('a', 3, { blockMs: 100 });
    assert.deepEqual(got.jobs.map((j) => j.job.request_id), ids.slice(0, 3));
    for (const c of got.jobs) await q.complete(c, 1);
    assert.equal((await q.stats()).depth, 2);
    for (const q2 of opened.splice(0)) await q2.close();
  });

  test('claim waits for new work up to blockMs and wakes on a submit', T, async () => {
    const q = await queue();
    const t0 = Date.now();
    const empty = await q.claim('a', 10, { blockMs: 200 });
    assert.equal(empty.jobs.length, 0);
    assert.ok(Date.now() - t0 >= 150, 'it waited');
    const waiting = q.claim('a', 10, { blockMs: 5_000 });
    await sleep(50);
    const t1 = Date.now();
    await q.submit(job(1));
    assert.equal((await waiting).jobs.length, 1);
    assert.ok(Date.now() - t1 < 2_000, 'woken by the submit');
    for (const q2 of opened.splice(0)) await q2.close();
  });
}
