// A model served from a worker pool (`models[].workers`) through the whole app: /predict,
// Open Inference Protocol infer (JSON and binary, alone and concurrent, so the tensor
// batcher merges requests bound for the pool), metadata and /health. Every answer is
// checked against the goldens; the in-process model of the same server answers alike.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { binaryBody } from './binary-body.ts';
import { BC_MODEL, WINE_MODEL, batchSizeSeries, bc, wine, logit, sigmoid, close, get, post, T, appHarness, type Json } from '../../test/support/http-app.ts';

const { server } = appHarness();

describe('models in a worker pool', { timeout: 120_000 }, () => {
  test('predict and infer run in 2 worker threads and give the goldens; concurrent infers share runs', T, async () => {
    const s = await server({ models: [{ path: BC_MODEL, workers: 2 }, { path: WINE_MODEL, workers: 1 }] });
    const health = await get(s, '/health');
    assert.equal(health.status, 200, health.text);
    assert.deepEqual((health.json['models'] as Json[]).map((m) => m['name']).sort(), ['breast-cancer', 'wine-mixed']);

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

    // A bad tensor bound for the pool is a named 422 and the pool goes on.
    const bad = await post(s, '/v2/models/breast-cancer/infer', { inputs: [{ name: 'features', shape: [1, 29], datatype: 'FP32', data: data.slice(0, 29) }] });
    assert.equal(bad.status, 422, bad.text);
    assert.equal(bad.json['code'], 'SHAPE_MISMATCH');
    assert.equal((await post(s, '/predict', { features: bc.records[3] })).status, 200);
  });
});
