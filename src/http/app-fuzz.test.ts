// Seeded random requests against the whole app (models in-process and in a worker pool,
// memory features, memory cache, async queue, admin routes): mutated seed-style bodies,
// instances, Open Inference Protocol tensors (JSON and binary with lying lengths), odd
// content types, broken JSON, absurd ids. Every answer must be a 2xx, or a 4xx/503 with a
// named error code and no stack trace; no request may throw or hang, and the server answers
// a good request afterwards. The corpus in test/http/bad-requests.case.ts checks exact
// statuses; this checks that nothing outside it breaks anything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BC_MODEL, WINE_MODEL, bc, logit, sigmoid, close, post, appHarness, type Json } from '../../test/support/http-app.ts';

const { server } = appHarness();

/** A small deterministic PRNG (LCG), so a failure names a seed that replays it. */
function rng(seed: number) {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  return { next, pick };
}

const ODD: readonly unknown[] = [
  null, true, 0, -1, 1e308, -0, 3.5, 2 ** 53 + 1, '', 'x'.repeat(300), '3', 'NaN', 'Infinity', [], [1, 2], {}, { a: 1 },
  '__proto__', 'constructor', '\u0000', '💥', [[[[[]]]]], { features: { features: 1 } },
];

function requests(seed: number, n: number): { method: string; path: string; body?: string | Uint8Array<ArrayBuffer>; headers: Record<string, string> }[] {
  const { next, pick } = rng(seed);
  const odd = () => pick(ODD);
  const num = () => (next() < 0.9 ? next() * 20 : odd());
  const features = () => {
    const o: Record<string, unknown> = {};
    const names = [...Object.keys(bc.records[0]!), 'x', '__proto__', 'constructor', ''];
    for (let i = Math.floor(next() * 35); i > 0; i--) o[pick(names)] = num();
    return o;
  };
  const row = () => Array.from({ length: pick([0, 29, 30, 31]) }, num);
  const makers: (() => { method: string; path: string; body?: string | Uint8Array<ArrayBuffer>; headers?: Record<string, string> })[] = [
    () => ({ method: 'POST', path: '/predict', body: JSON.stringify({ user_id: next() < 0.5 ? Math.floor(next() * 40) : odd(), item_id: next() < 0.5 ? undefined : odd(), context: next() < 0.5 ? features() : odd(), features: next() < 0.3 ? features() : undefined, version: next() < 0.1 ? odd() : undefined }) }),
    () => ({ method: 'POST', path: pick(['/predict', '/v1/models/pooled/predict', '/v1/models/breast-cancer/predict']), body: JSON.stringify(odd()) }),
    () => ({ method: 'POST', path: pick(['/v1/models/breast-cancer/predict', '/v1/models/pooled/predict', '/v1/models/wine-mixed/predict', '/v1/models/nope/predict', '/v1/models/%00/predict']), body: JSON.stringify(next() < 0.7 ? { instances: Array.from({ length: Math.floor(next() * 5) }, () => (next() < 0.5 ? features() : row())) } : { instances: odd(), inputs: odd() }) }),
    () => ({ method: 'POST', path: pick(['/v2/models/breast-cancer/infer', '/v2/models/pooled/infer', '/v2/models/breast-cancer/versions/1/infer', '/v2/models/wine-mixed/infer', '/v2/models/x/infer']), body: JSON.stringify({
      id: odd(),
      inputs: next() < 0.2 ? odd() : [{ name: pick(['features', 'numeric', 'buckets', 'x', 5]), shape: next() < 0.6 ? [Math.floor(next() * 3), pick([30, 29, 13, 3, -1, 0])] : odd(), datatype: pick(['FP32', 'FP64', 'FP16', 'INT64', 'INT8', 'BYTES', 'BOOL', 'zz', 3]), data: next() < 0.6 ? Array.from({ length: Math.floor(next() * 100) }, num) : odd(), parameters: next() < 0.3 ? { binary_data_size: odd() } : undefined }],
      outputs: next() < 0.3 ? odd() : undefined, parameters: next() < 0.3 ? odd() : undefined,
    }) }),
    () => {
      const header = JSON.stringify({ inputs: [{ name: 'features', shape: [1, 30], datatype: 'FP32', parameters: { binary_data_size: pick([120, 119, 121, 0, -1, 1e9]) } }] });
      const bytes = new Uint8Array(header.length + Math.floor(next() * 130));
      bytes.set(new TextEncoder().encode(header));
      for (let i = header.length; i < bytes.length; i++) bytes[i] = Math.floor(next() * 256);
      return { method: 'POST', path: pick(['/v2/models/breast-cancer/infer', '/v2/models/pooled/infer']), body: bytes, headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(pick([header.length, header.length + 5, header.length - 1, 0, -3, 1e12, 'abc'])) } };
    },
    () => ({ method: 'POST', path: pick(['/predict/async', '/v1/models/breast-cancer/predict/async', '/v1/models/pooled/predict/async']), body: JSON.stringify({ user_id: next() < 0.5 ? Math.floor(next() * 40) : odd(), context: features(), webhook: next() < 0.5 ? odd() : undefined }) }),
    () => ({ method: 'GET', path: pick([`/predict/${encodeURIComponent(String(odd()))}`, `/predict/${'x'.repeat(200)}`, '/v2/models/breast-cancer/versions/x', '/v2/models//ready', '/v2/models/pooled', '/health', '/openapi.json', '/v1/models', '/metrics']) }),
    () => ({ method: 'POST', path: '/predict', body: pick(['{', '{"user_id":', '[1,2', '\u0000', '{"user_id":1}}', '{"user_id":1e999}', `{"a":${'['.repeat(5000)}${']'.repeat(5000)}}`, '"a"', 'null']) }),
    () => ({ method: pick(['POST', 'PUT', 'DELETE']), path: pick(['/admin/models', '/admin/models/breast-cancer/default', '/admin/models/nope/versions/1']), body: JSON.stringify({ source: odd(), name: odd(), version: odd() }) }),
  ];
  const types = ['application/json', 'application/json; charset=utf-8', 'text/plain', '', 'application/JSON', 'multipart/form-data; boundary=x'];
  return Array.from({ length: n }, () => {
    const r = pick(makers)();
    const headers: Record<string, string> = { ...(r.headers ?? {}) };
    if (!r.headers && r.method !== 'GET') {
      const t = next() < 0.9 ? 'application/json' : pick(types);
      if (t) headers['content-type'] = t;
    }
    return { method: r.method, path: r.path, ...(r.body !== undefined ? { body: r.body } : {}), headers };
  });
}

test('seeded random requests: every answer is a 2xx or a named 4xx/503, and the server goes on', { timeout: 120_000 }, async (t) => {
  const s = await server({
    models: [{ path: BC_MODEL }, { path: BC_MODEL, name: 'pooled', workers: 1 }, { path: WINE_MODEL }],
    featureStore: { kind: 'memory', path: 'features.json' },
    cache: { kind: 'memory' },
    server: { admin: true, maxRecords: 50 },
  });
  const seen = new Map<number, number>();
  for (const seed of [1, 2, 3]) {
    for (const [i, r] of requests(seed, 700).entries()) {
      const what = `seed ${seed} request ${i}: ${r.method} ${r.path} ${typeof r.body === 'string' ? r.body.slice(0, 200) : `${r.body?.length ?? 0} bytes`}`;
      const res = await s.app.request(`http://localhost${r.path}`, { method: r.method, headers: r.headers, ...(r.body !== undefined ? { body: r.body } : {}) });
      const text = await res.text();
      seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
      assert.ok(res.status < 500 || res.status === 503, `${what} → ${res.status} ${text.slice(0, 300)}`);
      if (res.status >= 400 && r.path !== '/metrics') {
        const body = JSON.parse(text) as Json;
        assert.equal(typeof body['code'], 'string', `${what}: no error code in ${text.slice(0, 300)}`);
        assert.doesNotMatch(text, /\n\s+at |\.ts:\d+/, `${what}: a stack trace`);
      }
    }
  }
  t.diagnostic(`statuses: ${JSON.stringify([...seen].sort((a, b) => a[0] - b[0]))}`);
  // Both kinds of answer happened, so the generator reached the handlers.
  assert.ok((seen.get(200) ?? 0) > 50 && [...seen.keys()].some((k) => k >= 400 && k < 500), `statuses: ${JSON.stringify([...seen])}`);
  const good = await post(s, '/v1/models/pooled/predict', { features: bc.records[4] });
  assert.equal(good.status, 200, good.text);
  close(good.json['probability'], sigmoid(logit(4)), 'row 4 after the fuzz');
});
