/**
 * The Redis webhook store against a real redis-server: the shared store cases, and the
 * restart story: a worker that claims a delivery and dies leaves it to another worker
 * after the lease, which delivers it exactly once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createWebhookDispatcher } from '../../src/webhooks/dispatcher.ts';
import { verifyWebhook } from '../../src/webhooks/sign.ts';
import type { WebhookStore } from '../../src/webhooks/types.ts';
import { startRedis, type RedisServer } from '../../test/support/redis-server.ts';
import { createWebhookTransport } from './webhook-fetch.ts';
import { createRedisWebhookStore } from './webhook-redis-store.ts';
import { webhookStoreCases } from './webhook-store.case.ts';
import { createReceiver, type Receiver } from './webhook-test-receiver.ts';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

describe('redis webhook store', { timeout: 60_000 }, () => {
  let redis: RedisServer;
  let receiver: Receiver;
  const stores: WebhookStore[] = [];
  const store = (prefix: string) => {
    const s = createRedisWebhookStore({ url: redis.url, prefix });
    stores.push(s);
    return s;
  };
  let n = 0;

  before(async () => {
    redis = await startRedis();
    receiver = await createReceiver(() => 200);
    await receiver.up();
  });
  after(async () => {
    for (const s of stores) await s.close?.();
    await receiver?.down();
    await redis?.stop();
  });

  webhookStoreCases(async () => store(`t${++n}:`));

  const dispatcher = (s: WebhookStore) => {
    const transport = createWebhookTransport({ allow: { loopback: true } });
    return createWebhookDispatcher({ secret: SECRET, ...transport, store: s, timeoutMs: 1_000, leaseMs: 1_500, baseDelayMs: 10 });
  };

  test('a worker killed mid-delivery: another worker delivers after the lease, exactly once', async () => {
    const prefix = `crash${++n}:`;
    const first = store(prefix);
    const second = store(prefix);
    const a = dispatcher(first);
    const b = dispatcher(second);
    const before = receiver.received.length;
    const id = await a.enqueue({ id: 'msg_crash', url: receiver.url('/crash'), payload: { job: 'j1' }, jobId: 'j1' });
    // Worker A claims with a short lease and dies before sending anything.
    const [claimed] = await first.claim(Date.now(), 1, 300);
    assert.equal(claimed!.id, id);
    assert.deepEqual(await b.runDue(), [], 'hidden while A holds the lease');
    await sleep(350);
    const done = await b.runDue();
    assert.deepEqual(done.map((o) => [o.outcome, o.attempt, o.recorded]), [['delivered', 2, true]]);
    // A comes back (or a zombie A reports late): its result is fenced off.
    assert.equal(await first.complete(id, claimed!.lease, { status: 'failed', lastError: 'late' }), false);
    const status = await a.status(id);
    assert.equal(status!.status, 'delivered');
    assert.equal(status!.attempts, 2);
    assert.equal(status!.last_error, undefined);
    const got = receiver.received.slice(before).filter((r) => r.path === '/crash');
    assert.equal(got.length, 1);
    await verifyWebhook(got[0]!.headers as Record<string, string>, got[0]!.body, SECRET);
    assert.deepEqual(await b.runDue(Date.now() + 86_400_000), []);
    assert.ok((await first.client.pttl(`${prefix}d:${id}`)) > 0, 'finished records expire');
  });

  test('two workers racing over 30 deliveries send each once', async () => {
    const prefix = `race${++n}:`;
    const a = dispatcher(store(prefix));
    const b = dispatcher(store(prefix));
    const before = receiver.received.length;
    for (let i = 0; i < 30; i++) await a.enqueue({ id: `msg_race_${i}`, url: receiver.url('/race'), payload: i });
    for (let round = 0; round < 5; round++) await Promise.all([a.runDue(), b.runDue()]);
    const ids = receiver.received.slice(before).map((r) => r.headers['webhook-id']);
    assert.equal(ids.length, 30);
    assert.equal(new Set(ids).size, 30);
  });
});
