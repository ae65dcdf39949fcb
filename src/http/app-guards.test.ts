// The HTTP app in-process: missing entities, bearer keys and CORS, load shedding, deadlines
// and draining (the routes themselves are in app.test.ts).
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BC_MODEL, WINE_MODEL, bc, wine, bcConfig, USER_FEATURES, logit, sigmoid, close, call, post, get, assertError, T, type BuiltServer, appHarness } from '../../test/support/http-app.ts';

const { server } = appHarness();

describe('missing entities', { timeout: 60_000 }, () => {
  test("missingEntity 'error': an unknown user or item → 404 ENTITY_NOT_FOUND naming the keys", T, async () => {
    const s = await server({ models: [{ path: BC_MODEL }], featureStore: { kind: 'memory', path: 'features.json' } });
    const a = await post(s, '/predict', { user_id: 'ghost' });
    assertError(a, 404, 'ENTITY_NOT_FOUND');
    assert.deepEqual(a.json['details'], { keys: ['user:ghost'] });
    const b = await post(s, '/predict', { user_id: 0, item_id: 'ghost' });
    assertError(b, 404, 'ENTITY_NOT_FOUND');
    assert.deepEqual(b.json['details'], { keys: ['item:ghost'] });
  });

  test("missingEntity 'defaults': a model with a default scores; one without says MISSING_FEATURE", T, async () => {
    const withDefault = { ...bcConfig, inputs: { features: { ...bcConfig.inputs.features, default: 0 } } };
    const s = await server({
      models: [{ path: BC_MODEL, config: withDefault }, { path: WINE_MODEL }],
      featureStore: { kind: 'memory', path: 'features.json' },
      missingEntity: 'defaults',
    });
    const a = await post(s, '/predict', { user_id: 'ghost', item_id: 'ghost' });
    assert.equal(a.status, 200, a.text);
    assert.equal(typeof a.json['probability'], 'number');
    assert.deepEqual(a.json['features_used'], [], 'nothing came from the store');
    // A known user with an unknown item: the user's 20 features plus defaults for the rest.
    const b = await post(s, '/predict', { user_id: 2, item_id: 'ghost' });
    assert.equal(b.status, 200, b.text);
    assert.deepEqual(b.json['features_used'], USER_FEATURES);
    const c = await post(s, '/v1/models/wine-mixed/predict', { user_id: 'ghost' });
    assertError(c, 422, 'MISSING_FEATURE');
  });
});

describe('auth and CORS', { timeout: 60_000 }, () => {
  const KEY = 'test-key-0123456789';
  let s: BuiltServer;
  before(async () => {
    s = await server({
      models: [{ path: BC_MODEL }],
      featureStore: { kind: 'memory', path: 'features.json' },
      server: { apiKeys: [KEY, 'second-key-abcdef'], corsOrigins: ['https://app.example'] },
    });
  });

  test('401 without a key or with a wrong one, WWW-Authenticate: Bearer; 200 with a key', T, async () => {
    const body = { user_id: 4, item_id: 4 };
    const bad: Record<string, string>[] = [{}, { authorization: 'Bearer wrong-key-0000000' }, { authorization: `Basic ${KEY}` }, { authorization: KEY }, { authorization: 'Bearer ' }];
    for (const headers of bad) {
      const a = await post(s, '/predict', body, headers);
      assertError(a, 401, 'UNAUTHORIZED');
      assert.equal(a.headers.get('www-authenticate'), 'Bearer', JSON.stringify(headers));
    }
    assertError(await get(s, '/v2/models/breast-cancer'), 401, 'UNAUTHORIZED');
    assertError(await post(s, '/v2/models/breast-cancer/infer', { inputs: [] }), 401, 'UNAUTHORIZED');
    const ok = await post(s, '/predict', body, { authorization: `Bearer ${KEY}` });
    assert.equal(ok.status, 200, ok.text);
    close(ok.json['probability'], sigmoid(logit(4)), 'row 4');
    assert.equal((await post(s, '/predict', body, { authorization: 'Bearer second-key-abcdef' })).status, 200);
  });

  test('/health, /metrics and the OIP health routes need no key', T, async () => {
    for (const path of ['/health', '/metrics', '/v2/health/live', '/v2/health/ready']) {
      assert.equal((await get(s, path)).status, 200, path);
    }
  });

  test('CORS: preflight from an allowed origin, none for another; headers on answers', T, async () => {
    const pre = await call(s, 'OPTIONS', '/predict', undefined, {
      origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type',
    });
    assert.equal(pre.status, 204, pre.text);
    assert.equal(pre.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.match(pre.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.match((pre.headers.get('access-control-allow-headers') ?? '').toLowerCase(), /authorization/);
    assert.match((pre.headers.get('access-control-allow-headers') ?? '').toLowerCase(), /content-type/);
    const evil = await call(s, 'OPTIONS', '/predict', undefined, { origin: 'https://evil.example', 'access-control-request-method': 'POST' });
    assert.notEqual(evil.headers.get('access-control-allow-origin'), 'https://evil.example');
    assert.notEqual(evil.headers.get('access-control-allow-origin'), '*');
    const ok = await post(s, '/predict', { user_id: 4, item_id: 4 }, { origin: 'https://app.example', authorization: `Bearer ${KEY}` });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('access-control-allow-origin'), 'https://app.example');
    const denied = await post(s, '/predict', { user_id: 4, item_id: 4 }, { origin: 'https://app.example' });
    assert.equal(denied.status, 401);
    assert.equal(denied.headers.get('access-control-allow-origin'), 'https://app.example', 'a browser can read the 401');
  });
});

describe('load shedding, deadlines and draining', { timeout: 60_000 }, () => {
  test('a tiny queue: some 503 OVERLOADED with Retry-After, the rest 200, never a 500', T, async () => {
    const s = await server({ models: [{ path: BC_MODEL }], batching: { maxQueueRows: 2, maxDelayMs: 50 } });
    const answers = await Promise.all(Array.from({ length: 40 }, (_, k) => post(s, '/predict', { features: bc.records[k % 32] })));
    let ok = 0;
    let shed = 0;
    answers.forEach((a, k) => {
      if (a.status === 200) {
        close(a.json['probability'], sigmoid(logit(k % 32)), `request ${k}`);
        ok++;
      } else {
        assertError(a, 503, 'OVERLOADED');
        assert.equal(a.headers.get('retry-after'), '1');
        shed++;
      }
    });
    assert.ok(ok >= 1, `${ok} answered`);
    assert.ok(shed >= 1, `${shed} shed`);
    // Shedding is momentary: the same server answers once the queue is free.
    assert.equal((await post(s, '/predict', { features: bc.records[0] })).status, 200);
    // OIP infer waits in the same kind of bounded queue: 1-row tensors, 2 rows allowed.
    const data = bc.inputs['features']!.data;
    const infer = (k: number) => post(s, '/v2/models/breast-cancer/infer', { inputs: [{ name: 'features', shape: [1, 30], datatype: 'FP32', data: data.slice(k * 30, k * 30 + 30) }] });
    const tensors = await Promise.all(Array.from({ length: 40 }, (_, k) => infer(k % 32)));
    const codes = tensors.map((a) => (a.status === 200 ? 200 : (assertError(a, 503, 'OVERLOADED'), 503)));
    assert.ok(codes.includes(200) && codes.includes(503), `infer answers: ${codes.join(',')}`);
    assert.equal((await infer(0)).status, 200);
  });

  test('a request that cannot start in time → 504 DEADLINE_EXCEEDED, quickly', T, async () => {
    const s = await server({ models: [{ path: BC_MODEL }], server: { requestTimeoutMs: 1 }, batching: { maxDelayMs: 5_000 } });
    const t0 = performance.now();
    const a = await post(s, '/predict', { features: bc.records[0] });
    assertError(a, 504, 'DEADLINE_EXCEEDED');
    assert.ok(performance.now() - t0 < 2_000, 'answered long before the batch delay');
    const batch = await post(s, '/predict', { instances: bc.records });
    assertError(batch, 504, 'DEADLINE_EXCEEDED');
    const tensor = await post(s, '/v2/models/breast-cancer/infer', { inputs: [{ name: 'features', shape: [32, 30], datatype: 'FP32', data: bc.inputs['features']!.data }] });
    assertError(tensor, 504, 'DEADLINE_EXCEEDED');
  });

  test('after drain(): ready 503, predict and infer 503 SHUTTING_DOWN, /health draining', T, async () => {
    const s = await server({ models: [{ path: BC_MODEL }], featureStore: { kind: 'memory', path: 'features.json' } });
    assert.equal((await post(s, '/predict', { user_id: 0, item_id: 0 })).status, 200);
    await s.serving.drain();
    const ready = await get(s, '/v2/health/ready');
    assert.equal(ready.status, 503);
    assert.deepEqual(ready.json, { ready: false });
    assert.equal((await get(s, '/v2/models/breast-cancer/ready')).status, 503);
    assert.equal((await get(s, '/v2/health/live')).status, 200, 'still live');
    const p = await post(s, '/predict', { user_id: 0, item_id: 0 });
    assertError(p, 503, 'SHUTTING_DOWN');
    assert.equal(p.headers.get('retry-after'), '1');
    assertError(await post(s, '/predict', { features: bc.records[0] }), 503, 'SHUTTING_DOWN');
    assertError(await post(s, '/v2/models/breast-cancer/infer', {
      inputs: [{ name: 'features', shape: [1, 30], datatype: 'FP32', data: bc.inputs['features']!.data.slice(0, 30) }],
    }), 503, 'SHUTTING_DOWN');
    const h = await get(s, '/health');
    assert.equal(h.status, 503);
    assert.equal(h.json['status'], 'draining');
  });
});

