// Models reload without dropping requests: under steady traffic, the same version is
// reloaded, a new version is loaded and made default, and the old one unloaded; every
// request gets a 200, and traffic moves to the new version.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseServerConfig } from '../config/schema.ts';
import { buildServer } from '../../runtimes/serve/build-server.ts';
import { createNativeRuntime } from '../../runtimes/native/runtime.ts';
import { call, steadyTraffic } from '../../test/support/http-app.ts';

const model = fileURLToPath(new URL('../../test/fixtures/models/breast-cancer.onnx', import.meta.url));
const golden = JSON.parse(readFileSync(fileURLToPath(new URL('../../test/fixtures/goldens/breast-cancer.json', import.meta.url)), 'utf8'));

test('reloads and version switches under load drop no request', { timeout: 60_000 }, async () => {
  const cfg = parseServerConfig({
    models: [{ path: model, name: 'bc', version: '1' }],
    server: { admin: true },
    batching: { maxDelayMs: 1 },
  });
  const server = await buildServer(cfg, createNativeRuntime(), process.cwd());
  const post = (path: string, body: unknown, method = 'POST') =>
    server.app.request(path, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const traffic = steadyTraffic((i) => call(server, 'POST', '/v1/models/bc/predict', { features: golden.records[i % 32] }), (a, i) => {
    assert.equal(a.status, 200, `status ${a.status}: ${a.json['error']}`);
    const want = 1 / (1 + Math.exp(-golden.outputs.logit.data[i % 32]));
    assert.ok(Math.abs(a.json['probability'] - want) < 1e-4, `probability of row ${i % 32}`);
  });
  try {
    for (let r = 0; r < 5; r++) {
      await new Promise((res) => setTimeout(res, 100));
      const res = await post('/admin/models', { source: model, name: 'bc', version: '1' });
      assert.equal(res.status, 201, await res.text());
    }
    let res = await post('/admin/models', { source: model, name: 'bc', version: '2' });
    assert.equal(res.status, 201);
    await new Promise((r) => setTimeout(r, 150));
    res = await post('/admin/models/bc/versions/1', undefined, 'DELETE');
    assert.equal(res.status, 200, await res.text());
    await new Promise((r) => setTimeout(r, 150));
    const { statuses, versions, sent } = await traffic.stop();
    assert.deepEqual([...statuses.keys()], [200], `statuses: ${JSON.stringify([...statuses])}`);
    assert.ok(sent > 50, `traffic kept flowing (${sent} requests)`);
    assert.ok(versions.has('1') && versions.has('2'), `served versions ${[...versions]}`);
    const after = await post('/v1/models/bc/predict', { features: golden.records[0], version: '1' });
    assert.equal(after.status, 404, 'the unloaded version is gone');
  } finally {
    await traffic.stop().catch(() => {});
    await server.close();
  }
});

test('admin routes are off unless server.admin is set', { timeout: 30_000 }, async () => {
  const server = await buildServer(parseServerConfig({ models: [{ path: model }] }), createNativeRuntime(), process.cwd());
  try {
    const res = await server.app.request('/admin/models', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ source: model }) });
    assert.equal(res.status, 404);
  } finally {
    await server.close();
  }
});
