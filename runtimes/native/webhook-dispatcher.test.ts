/**
 * The webhook dispatcher end to end on Node: real node:http receivers on 127.0.0.1
 * (loopback allowed explicitly), the pinned transport, the memory store.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MetricsRegistry } from '../../src/metrics/registry.ts';
import { createWebhookDispatcher, type WebhookDispatcherOptions, type WebhookOutcome } from '../../src/webhooks/dispatcher.ts';
import { createMemoryWebhookStore } from '../../src/webhooks/memory-store.ts';
import { webhookMetrics } from '../../src/webhooks/metrics.ts';
import { verifyWebhook } from '../../src/webhooks/sign.ts';
import { createWebhookTransport } from './webhook-fetch.ts';
import { createReceiver, type Receiver } from './webhook-test-receiver.ts';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const T = { timeout: 20_000 };
const receivers: Receiver[] = [];
after(async () => { for (const r of receivers) await r.down(); });

async function receiver(handler: Parameters<typeof createReceiver>[0]): Promise<Receiver> {
  const r = await createReceiver(handler);
  receivers.push(r);
  return r;
}

/** A dispatcher with fast retries; `outcomes` collects every attempt. */
function setup(extra: Partial<WebhookDispatcherOptions> = {}) {
  const outcomes: WebhookOutcome[] = [];
  const transport = createWebhookTransport({ allow: { loopback: true } });
  let fetches = 0;
  const dispatcher = createWebhookDispatcher({
    secret: SECRET,
    check: transport.check,
    fetch: (url, init, target) => { fetches++; return transport.fetch(url, init, target); },
    store: createMemoryWebhookStore(),
    timeoutMs: 1_000, baseDelayMs: 20, maxDelayMs: 100,
    onOutcome: (o) => outcomes.push(o),
    ...extra,
  });
  return { dispatcher, outcomes, fetches: () => fetches };
}

/** Runs due deliveries until `id` is finished (or the deadline passes). */
async function settle(d: ReturnType<typeof setup>['dispatcher'], id: string, between?: (n: number) => Promise<void>) {
  for (let n = 0; n < 200; n++) {
    const done = await d.runDue();
    if (done.length > 0) await between?.(n);
    const s = await d.status(id);
    if (s?.status !== 'pending') return s;
    await sleep(10);
  }
  throw new Error(`${id} still pending`);
}

describe('webhook dispatcher', () => {
  test('a receiver down for two attempts (refused, then 503) gets the delivery on attempt 3, signed', T, async () => {
    const r = await receiver((_req, n) => (n === 0 ? 503 : 200));
    const { dispatcher, outcomes } = setup();
    const payload = { id: 'job-1', status: 'succeeded', output: { score: 0.93 } };
    const id = await dispatcher.enqueue({ id: 'msg_job-1', url: r.url(), payload, jobId: 'job-1' });
    assert.deepEqual(await dispatcher.status(id), { status: 'pending', attempts: 0, next_attempt_at: (await dispatcher.status(id))!.next_attempt_at });
    // Nothing listens for the first attempt; the receiver starts after it.
    const status = await settle(dispatcher, id, async () => { if (outcomes.length === 1) await r.up(); });
    assert.deepEqual(outcomes.map((o) => [o.outcome, o.attempt, o.status]), [['retry', 1, undefined], ['retry', 2, 503], ['delivered', 3, 200]]);
    assert.match(outcomes[0]!.error!, /ECONNREFUSED/);
    assert.equal(outcomes[1]!.error, `HTTP 503 from ${r.url()}`);
    assert.equal(status!.status, 'delivered');
    assert.equal(status!.attempts, 3);
    assert.equal(status!.last_status, 200);
    assert.ok(status!.delivered_at);
    assert.equal(r.received.length, 2);
    for (const got of r.received) {
      assert.equal(got.headers['webhook-id'], 'msg_job-1', 'the same id on every attempt');
      assert.equal(got.headers['content-type'], 'application/json');
      assert.deepEqual(JSON.parse(got.body), payload);
      await verifyWebhook(got.headers as Record<string, string>, got.body, SECRET);
    }
  });

  test('a 400 fails for good after one attempt', T, async () => {
    const r = await receiver(() => 400);
    await r.up();
    const { dispatcher, outcomes } = setup();
    const id = await dispatcher.enqueue({ url: r.url(), payload: { ok: false } });
    assert.match(id, /^msg_/);
    const status = await settle(dispatcher, id);
    assert.deepEqual(status, { status: 'failed', attempts: 1, last_status: 400, last_error: `HTTP 400 from ${r.url()}` });
    assert.deepEqual(outcomes.map((o) => o.outcome), ['failed']);
    assert.equal(r.received.length, 1);
    assert.deepEqual(await dispatcher.runDue(Date.now() + 3_600_000), []);
  });

  test('a timeout is retried; a 429 and 408 too', T, async () => {
    const r = await receiver((_req, n) => (n === 0 ? undefined : n === 1 ? 429 : n === 2 ? 408 : 204));
    await r.up();
    const { dispatcher, outcomes } = setup({ timeoutMs: 200 });
    const id = await dispatcher.enqueue({ url: r.url(), payload: 1 });
    const status = await settle(dispatcher, id);
    assert.deepEqual(outcomes.map((o) => [o.outcome, o.status ?? o.error]), [['retry', 'timed out after 200 ms'], ['retry', 429], ['retry', 408], ['delivered', 204]]);
    assert.equal(status!.attempts, 4);
  });

  test('gives up after maxAttempts', T, async () => {
    const r = await receiver(() => 500);
    await r.up();
    const { dispatcher } = setup({ maxAttempts: 3 });
    const id = await dispatcher.enqueue({ url: r.url(), payload: 1 });
    const status = await settle(dispatcher, id);
    assert.deepEqual(status, { status: 'failed', attempts: 3, last_status: 500, last_error: `HTTP 500 from ${r.url()} (gave up after 3 attempts)` });
    assert.equal(r.received.length, 3);
  });

  test('a URL resolving to 10.0.0.1, or a private literal, is refused and never connected to', T, async () => {
    const transport = createWebhookTransport({ allow: { loopback: true }, resolve: async () => ['10.0.0.1'] });
    const registry = new MetricsRegistry();
    const { dispatcher, outcomes, fetches } = setup({ check: transport.check, onOutcome: webhookMetrics(registry) });
    const a = await dispatcher.enqueue({ url: 'http://hooks.internal.test:8080/cb', payload: 1 });
    const b = await dispatcher.enqueue({ url: 'http://192.168.1.10/cb', payload: 1 });
    const done = await dispatcher.runDue();
    assert.equal(outcomes.length, 0, 'metrics replaced the collector');
    assert.deepEqual(done.map((o) => o.outcome), ['refused', 'refused']);
    assert.equal(fetches(), 0);
    const sa = await dispatcher.status(a);
    assert.equal(sa!.status, 'failed');
    assert.equal(sa!.attempts, 1);
    assert.match(sa!.last_error!, /hooks\.internal\.test resolves to 10\.0\.0\.1, which is a private address/);
    assert.match((await dispatcher.status(b))!.last_error!, /192\.168\.1\.10 is a private address/);
    assert.match(registry.render(), /omniserve_webhook_deliveries_total\{outcome="refused"\} 2/);
  });

  test('start() delivers in the background; stop() waits for the attempt in flight', T, async () => {
    const r = await receiver(() => 200);
    await r.up();
    const { dispatcher } = setup();
    const loop = dispatcher.start({ intervalMs: 10 });
    const id = await dispatcher.enqueue({ url: r.url(), payload: { n: 1 } });
    for (let i = 0; i < 200 && (await dispatcher.status(id))!.status === 'pending'; i++) await sleep(10);
    await loop.stop();
    assert.equal((await dispatcher.status(id))!.status, 'delivered');
    assert.equal(r.received.length, 1);
  });
});
