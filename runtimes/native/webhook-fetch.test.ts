/**
 * The pinned webhook fetch: DNS rebinding cannot redirect a delivery, the Host header
 * keeps the name from the URL, and refused URLs are never connected to.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createWebhookDispatcher } from '../../src/webhooks/dispatcher.ts';
import { createMemoryWebhookStore } from '../../src/webhooks/memory-store.ts';
import { verifyWebhook } from '../../src/webhooks/sign.ts';
import { refusalOf, type Resolve } from '../../src/webhooks/ssrf.ts';
import { createWebhookTransport, resolveHost } from './webhook-fetch.ts';
import { createReceiver, type Receiver } from './webhook-test-receiver.ts';

/** A rebinding DNS server: the vetted answer first, then a different address. */
function rebinding(first: string, then: string): Resolve & { calls: number } {
  const r = Object.assign(async () => [r.calls++ === 0 ? first : then], { calls: 0 });
  return r;
}

describe('pinned webhook fetch', { timeout: 20_000 }, () => {
  let receiver: Receiver;
  before(async () => {
    receiver = await createReceiver((req) => (req.path === '/echo' ? 200 : 404));
    await receiver.up();
  });
  after(() => receiver.down());

  test('a rebinding DNS answer after the check does not move the connection', async () => {
    // Loopback stands in for the vetted "public" answer (it is the only place a test can
    // listen); 10.0.0.1 is what a rebinding attacker would answer next.
    const resolve = rebinding('127.0.0.1', '10.0.0.1');
    const transport = createWebhookTransport({ allow: { loopback: true }, resolve });
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const dispatcher = createWebhookDispatcher({ secret, ...transport, store: createMemoryWebhookStore(), timeoutMs: 1_000 });
    const url = `http://hooks.rebind.test:${receiver.port}/echo`;
    const id = await dispatcher.enqueue({ url, payload: { pinned: true } });
    const [outcome] = await dispatcher.runDue();
    assert.equal(outcome!.outcome, 'delivered', outcome!.error);
    assert.equal(resolve.calls, 1, 'resolved once, for the check; the connection used that answer');
    const got = receiver.received.at(-1)!;
    assert.equal(got.headers.host, `hooks.rebind.test:${receiver.port}`);
    assert.equal(got.headers['webhook-id'], id);
    await verifyWebhook(got.headers as Record<string, string>, got.body, secret);
  });

  test('called alone, the fetch checks first and connects to the checked address', async () => {
    const resolve = rebinding('127.0.0.1', '10.0.0.1');
    const transport = createWebhookTransport({ allow: { loopback: true }, resolve });
    const res = await transport.fetch(`http://alone.test:${receiver.port}/echo`, { method: 'POST', body: 'x', headers: { 'x-a': '1' } });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'status 200');
    assert.equal(resolve.calls, 1);
    const got = receiver.received.at(-1)!;
    assert.equal(got.headers.host, `alone.test:${receiver.port}`);
    assert.equal(got.headers['x-a'], '1');
    assert.equal(got.body, 'x');
    // A second call checks again, and the rebinding answer is refused there.
    const again = await transport.fetch(`http://alone.test:${receiver.port}/echo`).catch((x: unknown) => x);
    assert.equal(refusalOf(again), 'private');
    const missing = await createWebhookTransport({ allow: { loopback: true } }).fetch(receiver.url('/nope'));
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
  });

  test('refused URLs reject with the reason and connect nowhere', async () => {
    const transport = createWebhookTransport({ resolve: async () => ['10.0.0.1'] });
    const e = await transport.fetch('http://internal.test/').catch((x: unknown) => x);
    assert.equal(refusalOf(e), 'private');
    const before = receiver.received.length;
    const loop = await transport.fetch(receiver.url('/echo')).catch((x: unknown) => x);
    assert.equal(refusalOf(loop), 'loopback', 'loopback is refused unless allowed');
    assert.equal(receiver.received.length, before);
  });

  test('the system resolver returns every address', async () => {
    const addresses = await resolveHost('localhost');
    assert.ok(addresses.some((a) => a === '127.0.0.1' || a === '::1'), addresses.join(','));
  });
});
