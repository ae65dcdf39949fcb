/**
 * The conformance suite every {@link WebhookStore} passes (memory, Redis): claims, leases,
 * fencing of stale results, and no double claims under concurrency.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WebhookDelivery, WebhookStore } from '../../src/webhooks/types.ts';

const T0 = 1_700_000_000_000;

function delivery(id: string, nextAttemptAt = T0): WebhookDelivery & { nextAttemptAt: number } {
  return { id, url: 'https://example.com/hook', body: `{"id":"${id}"}`, status: 'pending', attempts: 0, createdAt: T0, nextAttemptAt, jobId: `job-${id}` };
}

/** Registers the cases; `fresh()` must return an empty store each time. */
export function webhookStoreCases(fresh: () => Promise<WebhookStore>): void {
  test('add, get, and add of an existing id is a no-op', async () => {
    const store = await fresh();
    assert.equal(await store.add(delivery('a')), true);
    assert.equal(await store.add({ ...delivery('a'), url: 'https://other.example/' }), false);
    assert.deepEqual(await store.get('a'), delivery('a'));
    assert.equal(await store.get('missing'), null);
  });

  test('claim takes due deliveries oldest first, bumps attempts and hides them for the lease', async () => {
    const store = await fresh();
    await store.add(delivery('late', T0 + 1_000));
    await store.add(delivery('b', T0 + 10));
    await store.add(delivery('a', T0));
    const got = await store.claim(T0 + 10, 10, 5_000);
    assert.deepEqual(got.map((d) => [d.id, d.attempts, d.nextAttemptAt]), [['a', 1, T0 + 5_010], ['b', 1, T0 + 5_010]]);
    assert.notEqual(got[0]!.lease, got[1]!.lease);
    assert.deepEqual(await store.claim(T0 + 10, 10, 5_000), [], 'leased deliveries are not claimed again');
    assert.deepEqual((await store.claim(T0 + 1_000, 1, 5_000)).map((d) => d.id), ['late']);
  });

  test('complete records outcomes only under the current lease', async () => {
    const store = await fresh();
    await store.add(delivery('a'));
    const [first] = await store.claim(T0, 1, 100);
    // The lease runs out (worker killed): another claim takes over with a new lease.
    const [second] = await store.claim(T0 + 101, 1, 100);
    assert.equal(second!.attempts, 2);
    assert.notEqual(second!.lease, first!.lease);
    assert.equal(await store.complete('a', first!.lease, { status: 'delivered', deliveredAt: T0 }), false);
    assert.equal(await store.complete('a', second!.lease, { status: 'pending', nextAttemptAt: T0 + 500, lastStatus: 503, lastError: 'HTTP 503' }), true);
    assert.equal(await store.complete('a', second!.lease, { status: 'delivered' }), false, 'a lease is used once');
    assert.deepEqual(await store.get('a'), { ...delivery('a'), attempts: 2, nextAttemptAt: T0 + 500, lastStatus: 503, lastError: 'HTTP 503' });
    assert.deepEqual(await store.claim(T0 + 499, 1, 100), []);
    const [third] = await store.claim(T0 + 500, 1, 100);
    assert.equal(await store.complete('a', third!.lease, { status: 'delivered', deliveredAt: T0 + 600, lastStatus: 200 }), true);
    const { nextAttemptAt: _, ...rest } = delivery('a');
    assert.deepEqual(await store.get('a'), { ...rest, status: 'delivered', attempts: 3, deliveredAt: T0 + 600, lastStatus: 200 });
    assert.deepEqual(await store.claim(T0 + 10_000, 10, 100), [], 'finished deliveries are never claimed');
  });

  test('concurrent claims never hand out the same attempt twice', async () => {
    const store = await fresh();
    for (let i = 0; i < 20; i++) await store.add(delivery(`d${i}`));
    const batches = await Promise.all(Array.from({ length: 8 }, () => store.claim(T0, 3, 1_000)));
    const ids = batches.flat().map((d) => d.id);
    assert.equal(ids.length, 20);
    assert.equal(new Set(ids).size, 20);
  });
}
