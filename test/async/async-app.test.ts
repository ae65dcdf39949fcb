// Async predictions in-process (app.request, no sockets) over a real engine and the memory
// queue with the server's in-process worker: submit → 202 pending, the worker scores it,
// GET /predict/{id} answers the golden result; validation at submit; idempotency; failures
// stored with their error; metrics.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildServer, type BuiltServer } from '../../runtimes/serve/build-server.ts';
import { createNativeRuntime } from '../../runtimes/native/runtime.ts';
import { parseServerConfig } from '../../src/config/schema.ts';
import { ROOT } from '../support/serve-process.ts';
import { bc, FEATURES, wantProbability, pick } from '../support/golden.ts';

/** User i is golden row i % 32. */
const want = wantProbability;

type Json = Record<string, any>;
interface Answer { status: number; headers: Headers; json: Json; text: string }

let tmp: string;
let s: BuiltServer;

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const init: RequestInit = { method, headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers } };
  if (body !== undefined) init.body = JSON.stringify(body);
  const res = await s.app.request(`http://localhost${path}`, init);
  const text = await res.text();
  let json: Json = {};
  try {
    json = JSON.parse(text) as Json;
  } catch {
    // metrics text
  }
  return { status: res.status, headers: res.headers, json, text };
}
const submit = (body: unknown, headers?: Record<string, string>, path = '/predict/async') => call('POST', path, body, headers);

/** Polls GET /predict/{id} until the job is final. */
async function waitFinal(id: string, timeoutMs = 10_000): Promise<Json> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const a = await call('GET', `/predict/${id}`);
    assert.equal(a.status, 200, a.text);
    if (a.json['status'] === 'completed' || a.json['status'] === 'failed') return a.json;
    if (Date.now() > deadline) assert.fail(`job ${id} still ${a.json['status']} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'omniserve-async-'));
  const rows: Record<string, Record<string, unknown>> = {};
  bc.records.forEach((r, i) => {
    rows[`user:${i}`] = pick(r, FEATURES.slice(0, 20));
    rows[`item:${i}`] = pick(r, FEATURES.slice(20));
  });
  rows['user:bad'] = { ...pick(bc.records[0]!, FEATURES.slice(0, 20)), mean_radius: 'not-a-number' };
  writeFileSync(join(tmp, 'features.json'), JSON.stringify(rows));
  s = await buildServer(parseServerConfig({
    models: [{ path: join(ROOT, 'test/fixtures/models/breast-cancer.onnx') }],
    featureStore: { kind: 'memory', path: 'features.json' },
    // A callback_url needs a secret (test/async/webhooks.test.ts covers delivery).
    webhooks: { secret: 'async-app-test-secret' },
  }, 'test config'), createNativeRuntime(), tmp);
});
after(async () => {
  await s?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const T = { timeout: 30_000 };

describe('async predictions (memory queue, in-process worker)', { timeout: 120_000 }, () => {
  test('submit → 202 {request_id, status: pending}; the job completes with the golden answer', T, async () => {
    const ids: string[] = [];
    for (let i = 0; i < 32; i++) {
      const a = await submit({ user_id: i, item_id: i });
      assert.equal(a.status, 202, a.text);
      assert.equal(a.json['status'], 'pending');
      assert.match(a.json['request_id'], /^[0-9a-f-]{36}$/);
      assert.equal(a.headers.get('location'), `/predict/${a.json['request_id']}`);
      ids.push(a.json['request_id']);
    }
    for (let i = 0; i < 32; i++) {
      const j = await waitFinal(ids[i]!);
      assert.equal(j['status'], 'completed', JSON.stringify(j));
      assert.ok(Math.abs(j['result']['probability'] - want(i)) <= 1e-4, `row ${i}: ${j['result']['probability']} vs ${want(i)}`);
      assert.equal(j['result']['model'], 'breast-cancer');
      assert.equal(j['result']['model_version'], '1');
      assert.deepEqual(j['result']['features_used'], FEATURES);
      assert.equal(j['attempts'], 1);
      assert.equal(j['error'], undefined);
    }
  });

  test('instances and a named model: one job, one prediction per instance', T, async () => {
    const a = await submit({ instances: bc.records.slice(0, 4) }, {}, '/v1/models/breast-cancer/predict/async');
    assert.equal(a.status, 202, a.text);
    const j = await waitFinal(a.json['request_id']);
    assert.equal(j['status'], 'completed');
    assert.equal(j['result']['predictions'].length, 4);
    j['result']['predictions'].forEach((p: Json, i: number) => assert.ok(Math.abs(p['probability'] - want(i)) <= 1e-4));
  });

  test('Idempotency-Key: a repeat gets the same request_id and stores nothing new', T, async () => {
    const a = await submit({ user_id: 3, item_id: 3 }, { 'Idempotency-Key': 'order-42' });
    const b = await submit({ user_id: 4, item_id: 4 }, { 'Idempotency-Key': 'order-42' });
    assert.equal(a.status, 202);
    assert.equal(b.status, 202);
    assert.equal(b.json['request_id'], a.json['request_id']);
    assert.equal(b.headers.get('idempotent-replayed'), 'true');
    const j = await waitFinal(a.json['request_id']);
    assert.ok(Math.abs(j['result']['probability'] - want(3)) <= 1e-4, 'the first request is the one stored');
    const bad = await submit({ user_id: 3 }, { 'Idempotency-Key': 'has space' });
    assert.equal(bad.status, 422, bad.text);
  });

  test('rejected at submit (nothing stored): bad shape, unknown model or version, bad direct features, bad callback_url', T, async () => {
    const cases: [unknown, number, string, string?][] = [
      [{}, 422, 'INVALID_REQUEST'],
      [{ user_id: {} }, 422, 'INVALID_REQUEST'],
      [{ features: { ...bc.records[0], mean_radius: 'abc' } }, 422, 'INVALID_FEATURE_TYPE'],
      [{ features: { ...bc.records[0], mean_radius: 'Infinity' } }, 422, 'INVALID_FEATURE_VALUE'],
      [{ features: { mean_radius: 1 } }, 422, 'MISSING_FEATURE'],
      [{ instances: [bc.records[0], { ...bc.records[1], worst_area: [1] }] }, 422, 'INVALID_FEATURE_TYPE'],
      [{ user_id: 1, context: { mean_radius: 'x' } }, 422, 'INVALID_FEATURE_TYPE'],
      [{ user_id: 1, callback_url: 'ftp://example.test/x' }, 422, 'INVALID_REQUEST'],
      [{ user_id: 1, callback_url: 'not a url' }, 422, 'INVALID_REQUEST'],
      [{ user_id: 1, version: '9' }, 404, 'MODEL_NOT_FOUND'],
      [{ user_id: 1 }, 404, 'MODEL_NOT_FOUND', '/v1/models/nope/predict/async'],
    ];
    const before = (await s.queue.stats()).depth;
    for (const [body, status, code, path] of cases) {
      const a = await submit(body, {}, path);
      assert.equal(a.status, status, `${JSON.stringify(body)}: ${a.text}`);
      assert.equal(a.json['code'], code, `${JSON.stringify(body)}: ${a.text}`);
    }
    assert.equal((await s.queue.stats()).depth, before);
    const plain = await call('POST', '/predict/async', undefined, { 'content-type': 'text/plain' });
    assert.equal(plain.status, 415);
  });

  test('unknown or expired id → 404 NOT_FOUND', T, async () => {
    for (const id of ['00000000-0000-0000-0000-000000000000', 'x'.repeat(500)]) {
      const a = await call('GET', `/predict/${id}`);
      assert.equal(a.status, 404, a.text);
      assert.equal(a.json['code'], 'NOT_FOUND');
    }
  });

  test('a job whose stored features are invalid fails with their error; the others complete', T, async () => {
    const bad = await submit({ user_id: 'bad', item_id: 0 });
    const ghost = await submit({ user_id: 'ghost' });
    const good = await submit({ user_id: 7, item_id: 7, callback_url: 'https://example.test/hook' });
    for (const a of [bad, ghost, good]) assert.equal(a.status, 202, a.text);
    const b = await waitFinal(bad.json['request_id']);
    assert.equal(b['status'], 'failed');
    assert.equal(b['error']['code'], 'INVALID_FEATURE_TYPE');
    assert.match(b['error']['error'], /mean_radius/);
    assert.equal(b['result'], undefined);
    const g = await waitFinal(ghost.json['request_id']);
    assert.equal(g['error']['code'], 'ENTITY_NOT_FOUND');
    const ok = await waitFinal(good.json['request_id']);
    assert.equal(ok['status'], 'completed');
    assert.ok(Math.abs(ok['result']['probability'] - want(7)) <= 1e-4);
    assert.equal((await s.queue.get(good.json['request_id']))?.callback_url, 'https://example.test/hook');
  });

  test('metrics: jobs submitted, completed, failed; queue depth and oldest age', T, async () => {
    await new Promise((r) => setTimeout(r, 1_200)); // the queue gauges refresh each second
    const m = (await call('GET', '/metrics')).text.split('\n').filter((l) => l.includes('job') && !l.includes('_bucket')).join('\n');
    assert.match(m, /omniserve_jobs_submitted_total\{model="breast-cancer"\} 37\b/, m);
    assert.match(m, /omniserve_jobs_completed_total\{model="breast-cancer"\} 35\b/, m);
    assert.match(m, /omniserve_jobs_failed_total\{model="breast-cancer",code="INVALID_FEATURE_TYPE"\} 1\b/, m);
    assert.match(m, /omniserve_jobs_failed_total\{model="breast-cancer",code="ENTITY_NOT_FOUND"\} 1\b/, m);
    assert.match(m, /omniserve_job_queue_depth 0\b/, m);
    assert.match(m, /omniserve_job_queue_oldest_age_seconds 0\b/, m);
    assert.match(m, /omniserve_job_duration_seconds_count\{model="breast-cancer"\} 37\b/, m);
  });
});
