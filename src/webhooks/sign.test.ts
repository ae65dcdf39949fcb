/**
 * Standard Webhooks signing: the spec's published vector (standard-webhooks repository,
 * libraries/javascript/src/webhook.test.ts, "sign function works"), round trips, rotation
 * and every way verification must fail.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isOmniserveError } from '../errors.ts';
import { secretBytes, signWebhook, toBase64, verifyWebhook } from './sign.ts';

const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};
const AT = VECTOR.timestamp * 1000;
const unauthorized = (e: unknown) => isOmniserveError(e, 'UNAUTHORIZED');

describe('webhook signatures', () => {
  test('the spec vector signs and verifies', async () => {
    const headers = await signWebhook(VECTOR);
    assert.deepEqual(headers, { 'webhook-id': VECTOR.id, 'webhook-timestamp': '1614265330', 'webhook-signature': VECTOR.signature });
    await verifyWebhook(headers, VECTOR.body, VECTOR.secret, { now: AT });
    await verifyWebhook(new Headers({ ...headers }), new TextEncoder().encode(VECTOR.body), VECTOR.secret, { now: AT });
    // A Date timestamp and raw key bytes give the same signature.
    const again = await signWebhook({ ...VECTOR, timestamp: new Date(AT), secret: secretBytes(VECTOR.secret) });
    assert.equal(again['webhook-signature'], VECTOR.signature);
  });

  test('raw secrets are their UTF-8 bytes; malformed whsec_ secrets are config errors', async () => {
    assert.deepEqual(secretBytes('hunter2'), new TextEncoder().encode('hunter2'));
    const raw = 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const h = await signWebhook({ ...VECTOR, secret: raw });
    assert.notEqual(h['webhook-signature'], VECTOR.signature);
    await verifyWebhook(h, VECTOR.body, raw, { now: AT });
    assert.throws(() => secretBytes('whsec_not base64!'), (e) => isOmniserveError(e, 'INVALID_CONFIG'));
    assert.throws(() => secretBytes(''), (e) => isOmniserveError(e, 'INVALID_CONFIG'));
  });

  test('round trip at the current time with a random key', async () => {
    const secret = `whsec_${toBase64(crypto.getRandomValues(new Uint8Array(32)))}`;
    const body = JSON.stringify({ id: 'job-1', status: 'succeeded', output: [0.25, 'é'] });
    const h = await signWebhook({ id: 'msg_1', timestamp: Math.floor(Date.now() / 1000), body, secret });
    await verifyWebhook(h, body, secret);
  });

  test('several signatures (secret rotation): any v1 match passes', async () => {
    const h = await signWebhook(VECTOR);
    const sigs = ['v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=', 'v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=', h['webhook-signature']];
    await verifyWebhook({ ...h, 'webhook-signature': sigs.join(' ') }, VECTOR.body, VECTOR.secret, { now: AT });
    const old = await signWebhook({ ...VECTOR, secret: 'old-secret' });
    await verifyWebhook({ ...h, 'webhook-signature': `${old['webhook-signature']} ${h['webhook-signature']}` }, VECTOR.body, 'old-secret', { now: AT });
  });

  test('verification fails on tampering, old or future timestamps and missing headers', async () => {
    const h = await signWebhook(VECTOR);
    const bad: [string, Record<string, string | undefined>, string, number][] = [
      ['tampered body', h, '{"test": 2432232315}', AT],
      ['wrong id', { ...h, 'webhook-id': 'msg_other' }, VECTOR.body, AT],
      ['wrong timestamp', { ...h, 'webhook-timestamp': String(VECTOR.timestamp + 1) }, VECTOR.body, AT],
      ['bad signature', { ...h, 'webhook-signature': 'v1,dawfeoifkpqwoekfpqoekf' }, VECTOR.body, AT],
      ['partial signature', { ...h, 'webhook-signature': h['webhook-signature'].slice(0, 8) }, VECTOR.body, AT],
      ['empty v1', { ...h, 'webhook-signature': 'v1,' }, VECTOR.body, AT],
      ['only v2', { ...h, 'webhook-signature': h['webhook-signature'].replace('v1,', 'v2,') }, VECTOR.body, AT],
      ['too old', h, VECTOR.body, AT + 301_000],
      ['from the future', h, VECTOR.body, AT - 301_000],
      ['timestamp not a number', { ...h, 'webhook-timestamp': 'hello' }, VECTOR.body, AT],
      ['no id', { ...h, 'webhook-id': undefined }, VECTOR.body, AT],
      ['no timestamp', { ...h, 'webhook-timestamp': undefined }, VECTOR.body, AT],
      ['no signature', { ...h, 'webhook-signature': undefined }, VECTOR.body, AT],
    ];
    for (const [name, headers, body, now] of bad) {
      await assert.rejects(verifyWebhook(headers, body, VECTOR.secret, { now }), unauthorized, name);
    }
    await assert.rejects(verifyWebhook(h, VECTOR.body, 'whsec_AAAAAAAAAAAAAAAAAAAAAAAA', { now: AT }), unauthorized, 'wrong secret');
    // Within a custom tolerance, and headers matched without regard to case.
    const upper = { 'Webhook-Id': h['webhook-id'], 'WEBHOOK-TIMESTAMP': h['webhook-timestamp'], 'Webhook-Signature': h['webhook-signature'] };
    await verifyWebhook(upper, VECTOR.body, VECTOR.secret, { now: AT + 3_600_000, toleranceSeconds: 3_600 });
  });
});
