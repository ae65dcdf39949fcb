// A model served from a worker pool (`models[].workers`) through the whole app: /predict,
// Open Inference Protocol infer (JSON and binary, alone and concurrent, so the tensor
// batcher merges requests bound for the pool), metadata and /health. Every answer is
// checked against the goldens; the in-process model of the same server answers alike.
// By default (`workers: auto`) a model whose batch run is slow goes to a worker thread by itself.
// Pooled models reload, take new versions and unload them under traffic (admin routes), and
// load from a URL.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { binaryBody } from './binary-body.ts';
import {
  BC_MODEL, SLOW_MODEL, WINE_MODEL, batchSizeSeries, bc, bcConfig, v2Config, wine, logit, sigmoid, close, get, post, call, promtool, steadyTraffic, T, appHarness, type Json,
} from '../../test/support/http-app.ts';

const { server } = appHarness();

describe('models in a worker pool', { timeout: 120_000 }, () => {
  test('predict and infer run in 2 worker threads and give the goldens; concurrent infers share runs', T, async () => {
    const s = await server({ models: [{ path: BC_MODEL, workers: 2 }, { path: WINE_MODEL, workers: 1 }] });
    const health = await get(s, '/health');
    assert.equal(health.status, 200, health.text);
    assert.deepEqual((health.json['models'] as Json[]).map((m) => m['name']).sort(), ['breast-cancer', 'wine-mixed']);
    // The in-process copies only answer metadata: their sessions are freed.
    assert.match(s.engine.models.get('breast-cancer').elsewhere ?? '', /worker threads/);
    assert.match(s.engine.models.get('wine-mixed').elsewhere ?? '', /worker threads/);

    const one = await post(s, '/predict', { features: bc.records[7] });
    assert.equal(one.status, 200, one.text);
    close(one.json['probability'], sigmoid(logit(7)), 'row 7');
    const many = await post(s, '/predict', { instances: bc.records });
    assert.equal(many.status, 200, many.text.slice(0, 300));
    (many.json['predictions'] as Json[]).forEach((p, i) => close(p['probability'], sigmoid(logit(i)), `instance ${i}`));

    const before = await batchSizeSeries(s, 'breast-cancer');
    const data = bc.inputs['features']!.data;
    const answers = await Promise.all(Array.from({ length: 16 }, (_, k) => post(s, '/v2/models/breast-cancer/infer', {
      inputs: [{ name: 'features', shape: [2, 30], datatype: 'FP32', data: data.slice(k * 60, k * 60 + 60) }],
    })));
    answers.forEach((a, k) => {
      assert.equal(a.status, 200, a.text.slice(0, 300));
      (a.json['outputs'][0]['data'] as number[]).forEach((x, r) => close(x, logit(2 * k + r), `request ${k} row ${r}`));
    });
    const after = await batchSizeSeries(s, 'breast-cancer');
    assert.equal(after.rows - before.rows, 32, 'every row ran once');
    assert.ok(after.runs - before.runs < 16, `16 requests in ${after.runs - before.runs} pool runs`);

    // Two inputs of two dtypes, in the one-worker pool, as binary data.
    const numeric = new Float32Array(wine.inputs['numeric']!.data.slice(0, 4 * 13));
    const buckets = BigInt64Array.from(wine.inputs['buckets']!.data.slice(0, 4 * 3).map((x) => BigInt(x)));
    const bin = binaryBody({ inputs: [
      { name: 'numeric', shape: [4, 13], datatype: 'FP32', parameters: { binary_data_size: numeric.byteLength } },
      { name: 'buckets', shape: [4, 3], datatype: 'INT64', parameters: { binary_data_size: buckets.byteLength } },
    ] }, [numeric, buckets]);
    const res = await s.app.request('http://localhost/v2/models/wine-mixed/infer', {
      method: 'POST', body: bin.body, headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(bin.headerLength) },
    });
    const text = await res.text();
    assert.equal(res.status, 200, text.slice(0, 300));
    const logits = ((JSON.parse(text) as Json)['outputs'] as Json[]).find((o) => o['name'] === 'logits')!;
    (logits['data'] as number[]).forEach((x, i) => close(x, wine.outputs['logits']!.data[i]!, `wine logits[${i}]`));

    // Instances with a whole array per input: packed into typed rows, cloned to the worker.
    const wineRows = Array.from({ length: 4 }, (_, r) => ({
      numeric: wine.inputs['numeric']!.data.slice(r * 13, r * 13 + 13), buckets: wine.inputs['buckets']!.data.slice(r * 3, r * 3 + 3),
    }));
    const viaRecords = await post(s, '/v1/models/wine-mixed/predict', { instances: wineRows });
    assert.equal(viaRecords.status, 200, viaRecords.text.slice(0, 300));
    (viaRecords.json['predictions'] as Json[]).forEach((p, r) => {
      const l = wine.outputs['logits']!.data.slice(r * 3, r * 3 + 3);
      assert.equal(p['prediction'], l.indexOf(Math.max(...l)), `wine row ${r}`);
    });

    // Prometheus sees the pools: workers by state, batches in them, restarts; promtool accepts it.
    const scrape = (await get(s, '/metrics')).text;
    assert.match(scrape, /^omniserve_model_workers\{model="breast-cancer",state="ready"\} 2$/m);
    assert.match(scrape, /^omniserve_model_workers\{model="wine-mixed",state="ready"\} 1$/m);
    assert.match(scrape, /^omniserve_model_workers\{model="breast-cancer",state="backoff"\} 0$/m);
    assert.match(scrape, /^omniserve_model_worker_calls\{model="breast-cancer",where="waiting"\} 0$/m);
    assert.match(scrape, /^# TYPE omniserve_model_worker_restarts_total counter\nomniserve_model_worker_restarts_total\{model="breast-cancer"\} 0$/m);
    const lint = await promtool(scrape);
    assert.equal(lint.code, 0, lint.out);

    // A bad tensor bound for the pool is a named 422 and the pool goes on.
    const bad = await post(s, '/v2/models/breast-cancer/infer', { inputs: [{ name: 'features', shape: [1, 29], datatype: 'FP32', data: data.slice(0, 29) }] });
    assert.equal(bad.status, 422, bad.text);
    assert.equal(bad.json['code'], 'SHAPE_MISMATCH');
    assert.equal((await post(s, '/predict', { features: bc.records[3] })).status, 200);
  });

  test('a pooled model reloads, takes a new version and unloads the old one under traffic, dropping no request', { timeout: 60_000 }, async () => {
    const s = await server({ models: [{ path: BC_MODEL, name: 'bc', version: '1', workers: 1 }], server: { admin: true }, batching: { maxDelayMs: 1 } });
    const pool = s.serving.options.pools!.get('bc')!;
    const traffic = steadyTraffic((i) => post(s, '/v1/models/bc/predict', { features: bc.records[i % 32] }), (a, i) => {
      assert.equal(a.status, 200, a.text);
      close(a.json['probability'], sigmoid(logit(i % 32)), `row ${i % 32}`);
      // Version 2's config labels its answers: the workers run the new config, not only the new session.
      if (a.json['model_version'] === '2') assert.equal(a.json['label'], logit(i % 32) > 0 ? 'B' : 'M');
    });
    try {
      for (let r = 0; r < 3; r++) {
        await new Promise((res) => setTimeout(res, 100));
        const a = await post(s, '/admin/models', { source: BC_MODEL, name: 'bc', version: '1' });
        assert.equal(a.status, 201, a.text);
      }
      const callsBefore = pool.stats().workers[0]!.calls;
      const v2 = await post(s, '/admin/models', { source: BC_MODEL, name: 'bc', version: '2', config: v2Config });
      assert.equal(v2.status, 201, v2.text);
      await new Promise((res) => setTimeout(res, 150));
      const gone = await call(s, 'DELETE', '/admin/models/bc/versions/1');
      assert.equal(gone.status, 200, gone.text);
      await new Promise((res) => setTimeout(res, 150));
      const { statuses, versions, sent } = await traffic.stop();
      assert.deepEqual([...statuses.keys()], [200], `statuses: ${JSON.stringify([...statuses])}`);
      assert.ok(sent > 30, `traffic kept flowing (${sent} requests)`);
      assert.ok(versions.has('1') && versions.has('2'), `served versions ${[...versions]}`);
      assert.ok(pool.stats().workers[0]!.calls > callsBefore, 'version 2 ran in the worker');
      // The worker holds version 2 and no longer version 1.
      assert.ok(s.engine.models.get('bc', '2').elsewhere, 'version 2 runs in the pool only');
      const direct = await pool.predict('bc', '2', [bc.records[5]!]);
      close(direct[0]!.probability, sigmoid(logit(5)), 'version 2 in the worker');
      await assert.rejects(pool.predict('bc', '1', [bc.records[5]!]), /1/);
      assert.equal((await post(s, '/v1/models/bc/versions/1/predict', { features: bc.records[0] })).status, 404);
    } finally {
      await traffic.stop().catch(() => {});
    }
  });

  test('a pooled model loads from a URL; versions of one model run in one place', T, async () => {
    const bytes = readFileSync(BC_MODEL);
    const http = createServer((req, res) => {
      if (req.url === '/models/bc-url.onnx') res.end(bytes);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/models/bc-url.onnx`;
      const s = await server({ models: [{ path: url, name: 'bc-url', config: bcConfig, workers: 1 }] });
      assert.ok(s.serving.options.pools?.has('bc-url'), 'served from a pool');
      const a = await post(s, '/v1/models/bc-url/predict', { features: bc.records[9] });
      assert.equal(a.status, 200, a.text);
      close(a.json['probability'], sigmoid(logit(9)), 'row 9 from the URL model');
      await assert.rejects(server({ models: [{ path: BC_MODEL, name: 'x', version: '1', workers: 1 }, { path: BC_MODEL, name: 'x', version: '2', workers: 0 }] }),
        (e: Error & { code?: string }) => e.code === 'INVALID_CONFIG' && /models\[1\]\.workers: 0/.test(e.message));
      // A version left at `auto` goes where the model's first version runs.
      const both = await server({ models: [{ path: BC_MODEL, name: 'y', version: '1', workers: 1 }, { path: BC_MODEL, name: 'y', version: '2' }] });
      assert.ok(both.engine.models.get('y', '2').elsewhere, 'version 2 runs in the pool');
      const y2 = await post(both, '/v1/models/y/predict', { features: bc.records[1], version: '2' });
      assert.equal(y2.status, 200, y2.text);
      assert.equal(y2.json['model_version'], '2');
    } finally {
      http.close();
    }
  });

  test('workers auto (the default): a model whose 64-row run is slow is served from a worker thread, a light one in-process', { timeout: 60_000 }, async () => {
    const s = await server({ models: [{ path: SLOW_MODEL }, { path: BC_MODEL }] });
    const slow = s.engine.models.get('slow-matmul');
    assert.match(slow.elsewhere ?? '', /workers: auto; a 64-row run took \d+\.\d ms, over 10 ms/);
    assert.equal(s.engine.models.get('breast-cancer').elsewhere, undefined, 'the light model stays in-process');
    const health = await get(s, '/health');
    const runsIn = Object.fromEntries((health.json['models'] as Json[]).map((m) => [m['name'], m['runs_in']]));
    assert.match(runsIn['slow-matmul'] ?? '', /worker thread/);
    assert.equal(runsIn['breast-cancer'], undefined);

    const pool = s.serving.options.pools!.get('slow-matmul')!;
    assert.equal(pool.stats().size, 1);
    const rows = [Array.from({ length: 2048 }, (_, i) => i / 2048), Array.from({ length: 2048 }, (_, i) => (i % 7) - 3)];
    const before = pool.stats().workers[0]!.calls;
    const a = await post(s, '/v2/models/slow-matmul/infer', { inputs: [{ name: 'x', shape: [2, 2048], datatype: 'FP32', data: rows.flat() }] });
    assert.equal(a.status, 200, a.text.slice(0, 300));
    rows.forEach((r, k) => close(a.json['outputs'][0]['data'][k], r.reduce((x, y) => x + y, 0) / 2048, `row ${k}'s mean`));
    assert.ok(pool.stats().workers[0]!.calls > before, 'the run went to the worker');
    const light = await post(s, '/v1/models/breast-cancer/predict', { features: bc.records[2] });
    assert.equal(light.status, 200, light.text);
    close(light.json['probability'], sigmoid(logit(2)), 'row 2 in-process');

    // Loaded at run time (admin routes) under a new name: the same rule; its next version follows it.
    const admin = await server({ models: [{ path: BC_MODEL }], server: { admin: true } });
    const loaded = await post(admin, '/admin/models', { source: SLOW_MODEL, name: 'later' });
    assert.equal(loaded.status, 201, loaded.text);
    assert.match(admin.engine.models.get('later').elsewhere ?? '', /workers: auto/);
    assert.equal((await post(admin, '/admin/models', { source: SLOW_MODEL, name: 'later', version: '2' })).status, 201);
    assert.ok(admin.engine.models.get('later', '2').elsewhere);
    const later = await post(admin, '/v2/models/later/infer', { inputs: [{ name: 'x', shape: [1, 2048], datatype: 'FP32', data: rows[1] }] });
    assert.equal(later.status, 200, later.text.slice(0, 300));
    assert.equal(admin.serving.options.pools?.get('later')?.stats().size, 1);

    // Asked for in-process, it stays in-process.
    const inProcess = await server({ models: [{ path: SLOW_MODEL, workers: 0 }] });
    assert.equal(inProcess.engine.models.get('slow-matmul').elsewhere, undefined);
    assert.equal(inProcess.serving.options.pools?.size ?? 0, 0);
  });
});
