// Webhooks for async jobs, all real: node:http receivers on 127.0.0.1 (loopback allowed
// explicitly), the pinned transport, the memory queue in-process; then redis-server,
// `omniserve serve` and `omniserve worker` processes, one of them SIGKILLed while it was
// retrying deliveries. Every delivery must verify with the shared secret, carry the job's
// final status, and arrive exactly once per job.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildServer, type BuiltServer } from '../../runtimes/serve/build-server.ts';
import { createNativeRuntime } from '../../runtimes/native/runtime.ts';
import { resolveHost } from '../../runtimes/native/webhook-fetch.ts';
import { createReceiver, type Receiver } from '../../runtimes/native/webhook-test-receiver.ts';
import { applyEnv, parseServerConfig } from '../../src/config/schema.ts';
import { createJobWebhooks } from '../../runtimes/serve/job-webhooks.ts';
import { MetricsRegistry } from '../../src/metrics/registry.ts';
import { refusalOf } from '../../src/webhooks/ssrf.ts';
import { verifyWebhook } from '../../src/webhooks/sign.ts';
import { startRedis, type RedisServer } from '../support/redis-server.ts';
import type { ManagedProcess } from '../support/process.ts';
import { ROOT, SERVE_HOSTS, startServe, startWorker as startNodeWorker, type ServeProcess } from '../support/serve-process.ts';

type Json = Record<string, any>;
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const MODEL = join(ROOT, 'test/fixtures/models/breast-cancer.onnx');
const RECORDS = (JSON.parse(readFileSync(join(ROOT, 'test/fixtures/goldens/breast-cancer.json'), 'utf8')) as { records: Json[] }).records;
/** Tiny backoff: retries every few hundred ms at most. */
const FAST = { secret: SECRET, timeoutMs: 1_000, baseDelayMs: 100, maxDelayMs: 400, maxAttempts: 100 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const T = { timeout: 30_000 };

/** Polls `get` until `done` holds for its answer. */
async function until<V>(what: string, get: () => Promise<V>, done: (v: V) => boolean, timeoutMs = 15_000): Promise<V> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (done(v)) return v;
    if (Date.now() > deadline) assert.fail(`${what}: still ${JSON.stringify(v)} after ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** Every request verifies, one webhook-id per job, and its body is the job's status. */
async function checkDeliveries(r: Receiver, statusOf: (id: string) => Promise<Json>): Promise<void> {
  for (const got of r.received) {
    await verifyWebhook(got.headers as Record<string, string>, got.body, SECRET);
    const body = JSON.parse(got.body) as Json;
    assert.equal(got.headers['webhook-id'], `msg_${body['request_id']}`);
    const { webhook, ...status } = await statusOf(body['request_id']);
    assert.ok(webhook, 'the status shows the delivery');
    assert.deepEqual(body, status, 'the body is the job status (without the delivery itself)');
  }
}

test('submit check: a DNS answer that never comes gives up after the deadline, not a refusal; a literal private address is still refused', async () => {
  const cfg = parseServerConfig({ models: [{ path: 'm.onnx' }], webhooks: { secret: SECRET } });
  const hooks = createJobWebhooks(cfg, new MetricsRegistry(), { resolve: () => new Promise(() => {}), submitCheckTimeoutMs: 200 })!;
  try {
    const t0 = performance.now();
    const err = await hooks.check('https://hangs.example/cb').then(() => undefined, (e: unknown) => e);
    const ms = performance.now() - t0;
    assert.ok(err instanceof Error && /no answer within 200 ms/.test(err.message), String(err));
    assert.equal(refusalOf(err), undefined, 'a timeout is not a refusal: the submit goes on');
    assert.ok(ms >= 190 && ms < 2_000, `gave up after ${ms.toFixed(0)} ms`);
    const refused = await hooks.check('http://10.0.0.1/cb').then(() => undefined, (e: unknown) => e);
    assert.equal(refusalOf(refused), 'private');
  } finally {
    await hooks.close();
  }
});

test('config: webhooks defaults, OMNISERVE_WEBHOOK_SECRET overrides, unknown fields refused', () => {
  const cfg = parseServerConfig({ models: [{ path: MODEL }] });
  assert.deepEqual(cfg.webhooks, { timeoutMs: 5_000, maxAttempts: 8, baseDelayMs: 1_000, maxDelayMs: 3_600_000, allow: {} });
  assert.equal(applyEnv(cfg, { OMNISERVE_WEBHOOK_SECRET: 'from-env' }).webhooks.secret, 'from-env');
  assert.throws(() => parseServerConfig({ models: [{ path: MODEL }], webhooks: { allow: { everything: true } } }), /webhooks\.allow/);
  assert.equal(parseServerConfig({ models: [{ path: MODEL }], webhooks: { leaseMs: 60_000 } }).webhooks.leaseMs, 60_000);
  assert.throws(() => parseServerConfig({ models: [{ path: MODEL }], webhooks: { timeoutMs: 5_000, leaseMs: 5_000 } }), /leaseMs must exceed timeoutMs/);
  assert.throws(() => parseServerConfig({ models: [{ path: MODEL }], webhooks: { leaseMs: 0 } }), /webhooks\.leaseMs/);
});

describe('job webhooks in-process (memory queue)', () => {
  const servers: BuiltServer[] = [];
  const receivers: Receiver[] = [];
  let tmp: string;
  /** Resolves one test name to a private address; the rest through the system. */
  const resolve = async (host: string) => (host === 'hooks.private.test' ? ['10.0.0.1'] : resolveHost(host));
  const build = async (webhooks: Json | undefined) => {
    const s = await buildServer(parseServerConfig({ models: [{ path: MODEL }], ...(webhooks ? { webhooks } : {}) }, 'test config'),
      createNativeRuntime(), tmp, { webhooks: { resolve } });
    servers.push(s);
    return s;
  };
  const call = async (s: BuiltServer, method: string, path: string, body?: unknown) => {
    const res = await s.app.request(`http://localhost${path}`, {
      method, ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    const text = await res.text();
    return { status: res.status, json: (res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : {}) as Json, text };
  };

  before(() => { tmp = mkdtempSync(join(tmpdir(), 'omniserve-webhooks-')); });
  after(async () => {
    for (const s of servers) await s.close();
    for (const r of receivers) await r.down();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('503, 503, 200: the status shows delivered after 3 attempts; every request signed, same id, the final status', T, async () => {
    const s = await build({ ...FAST, allow: { loopback: true } });
    const r = await createReceiver((_req, n) => (n < 2 ? 503 : 200));
    receivers.push(r);
    await r.up();
    const a = await call(s, 'POST', '/predict/async', { features: RECORDS[0], callback_url: r.url() });
    assert.equal(a.status, 202, a.text);
    const id = a.json['request_id'] as string;
    const final = await until('the delivery', async () => (await call(s, 'GET', `/predict/${id}`)).json,
      (j) => j['webhook']?.['status'] === 'delivered');
    assert.equal(final['status'], 'completed');
    assert.equal(final['webhook']['attempts'], 3);
    assert.equal(final['webhook']['last_status'], 200);
    assert.ok(final['webhook']['delivered_at']);
    assert.equal(r.received.length, 3);
    assert.deepEqual(new Set(r.received.map((x) => x.headers['webhook-id'])), new Set([`msg_${id}`]));
    await checkDeliveries(r, async (jobId) => (await call(s, 'GET', `/predict/${jobId}`)).json);
    assert.match((await call(s, 'GET', '/metrics')).text, /omniserve_webhook_deliveries_total\{outcome="retry"\} 2\b/);
    // A job without a callback_url shows no delivery.
    const plain = await call(s, 'POST', '/predict/async', { features: RECORDS[1] });
    const j = await until('the job', async () => (await call(s, 'GET', `/predict/${plain.json['request_id']}`)).json, (x) => x['status'] === 'completed');
    assert.equal(j['webhook'], undefined);
  });

  test('refused at submit (422, nothing stored): private and loopback addresses, and no secret', T, async () => {
    const s = await build(FAST);
    const cases: [string, string][] = [
      ['http://10.0.0.1/hook', 'private'],
      ['http://hooks.private.test/hook', 'private'],
      ['http://127.0.0.1:9/hook', 'loopback'],
      ['http://localhost/hook', 'loopback'],
      ['http://169.254.169.254/latest', 'metadata'],
    ];
    const depth = (await s.queue.stats()).depth;
    for (const [url, reason] of cases) {
      const a = await call(s, 'POST', '/predict/async', { features: RECORDS[0], callback_url: url });
      assert.equal(a.status, 422, `${url}: ${a.text}`);
      assert.equal(a.json['code'], 'INVALID_REQUEST', a.text);
      assert.equal(a.json['details']['refused'], reason, a.text);
      assert.match(a.json['error'], new RegExp(`${reason} address|names the local host|metadata`), a.text);
    }
    const unsigned = await build(undefined);
    const a = await call(unsigned, 'POST', '/predict/async', { features: RECORDS[0], callback_url: 'https://example.com/hook' });
    assert.equal(a.status, 422, a.text);
    assert.equal(a.json['code'], 'INVALID_REQUEST');
    assert.match(a.json['error'], /no webhook secret.*never sends unsigned webhooks/);
    assert.equal((await s.queue.stats()).depth, depth);
    assert.equal((await unsigned.queue.stats()).depth, 0);
  });
});

describe('job webhooks across processes (Redis queue, a worker SIGKILLed mid-retry)', { timeout: 60_000 }, () => {
  const N = 20;
  let tmp: string;
  let redis: RedisServer;
  let server: ServeProcess | undefined;
  const workers: ManagedProcess[] = [];
  let receiver: Receiver;
  let config: string;

  const startWorker = async (k: number) => {
    const w = (await startNodeWorker(SERVE_HOSTS[0]!, config, { name: `worker-${k}` })).proc;
    workers.push(w);
    return w;
  };
  const status = async (id: string) => (await (await fetch(`${server!.url}/predict/${id}`)).json()) as Json;

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'omniserve-webhooks-kill-'));
    redis = await startRedis();
    receiver = await createReceiver(() => 200);
    config = join(tmp, 'omniserve.json');
    writeFileSync(config, JSON.stringify({
      server: { port: 0, host: '127.0.0.1', drainTimeoutMs: 5_000 },
      models: [{ path: MODEL }],
      // The server only takes jobs and answers status; the workers run jobs and deliver.
      queue: { kind: 'redis', url: redis.url, claimIdleMs: 2_000, inProcessWorker: false },
      webhooks: { ...FAST, allow: { loopback: true } },
    }));
    const started = await Promise.all([startServe(SERVE_HOSTS[0]!, config, { env: { OMNISERVE_WEBHOOK_SECRET: '' } }), startWorker(0)]);
    server = started[0];
  });
  after(async () => {
    await Promise.all([server?.stop(5_000), ...workers.map((w) => w.stop({ graceMs: 5_000 }))]);
    await receiver?.down();
    await redis?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  test(`${N} jobs: the receiver, down at first, gets exactly one signed delivery per job from the next worker`, { timeout: 60_000 }, async () => {
    const ids: string[] = [];
    for (let i = 0; i < N; i++) {
      const res = await fetch(`${server!.url}/predict/async`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ features: RECORDS[i % RECORDS.length], callback_url: receiver.url(`/hook/${i}`) }),
      });
      const json = (await res.json()) as Json;
      assert.equal(res.status, 202, JSON.stringify(json));
      ids.push(json['request_id']);
    }
    // The first worker runs every job and tries every delivery: connection refused.
    for (const id of ids) {
      await until(`job ${id} tried`, () => status(id), (j) => j['webhook']?.['status'] === 'pending' && j['webhook']['attempts'] >= 1);
    }
    const first = await status(ids[0]!);
    assert.match(first['webhook']['last_error'], /ECONNREFUSED/);
    assert.equal(receiver.received.length, 0);
    await workers.shift()!.stop({ signal: 'SIGKILL' });
    await startWorker(1);
    await sleep(500);
    await receiver.up();
    for (const id of ids) {
      const j = await until(`delivery of ${id}`, () => status(id), (x) => x['webhook']?.['status'] !== 'pending', 20_000);
      assert.equal(j['webhook']['status'], 'delivered', JSON.stringify(j));
      assert.ok(j['webhook']['attempts'] >= 2, `retried: ${JSON.stringify(j['webhook'])}`);
    }
    await sleep(500); // a duplicate would show up now
    assert.equal(receiver.received.length, N, 'exactly one delivery per job');
    assert.deepEqual(new Set(receiver.received.map((x) => x.headers['webhook-id'])), new Set(ids.map((id) => `msg_${id}`)));
    receiver.received.forEach((x) => {
      const i = ids.indexOf(JSON.parse(x.body)['request_id']);
      assert.equal(x.path, `/hook/${i}`);
    });
    await checkDeliveries(receiver, status);
  });
});
