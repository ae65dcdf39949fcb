// The Hono app in-process (app.request, no sockets) over a real engine: servers built with
// buildServer from configs written here, feature hashes from the breast-cancer goldens, and
// every answer checked against the goldens or the documented error codes.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { binaryBody } from './binary-body.ts';
import { batchSizeSeries, bc, wine, FEATURES, ITEM_FEATURES, logit, sigmoid, close, post, get, assertError, servedRoutes, promtool, T, mainConfig, type BuiltServer, type Json, appHarness } from '../../test/support/http-app.ts';

const { server } = appHarness();

describe('the HTTP app over a real engine', { timeout: 120_000 }, () => {
  let s: BuiltServer;
  before(async () => {
    s = await server(mainConfig);
  });
  const wineInputs = (rows = 32) => [
    // Nested rows are accepted and flattened.
    { name: 'numeric', shape: [rows, 13], datatype: 'FP32', data: Array.from({ length: rows }, (_, r) => wine.inputs['numeric']!.data.slice(r * 13, r * 13 + 13)) },
    { name: 'buckets', shape: [rows, 3], datatype: 'INT64', data: wine.inputs['buckets']!.data.slice(0, rows * 3) },
  ];

  describe('POST /predict', () => {
    test('user_id + item_id + context: store hashes merged, context wins, golden probability', T, async () => {
      for (const i of [0, 5, 17, 31]) {
        const rec = bc.records[i]!;
        const a = await post(s, '/predict', { user_id: `stale-${i}`, item_id: i, context: { mean_radius: rec['mean_radius'] } });
        assert.equal(a.status, 200, a.text);
        const p = sigmoid(logit(i));
        close(a.json['probability'], p, `row ${i} probability`);
        assert.equal(a.json['prediction'], p >= 0.5 ? 1 : 0);
        assert.equal(a.json['label'], p >= 0.5 ? 'benign' : 'malignant');
        assert.equal(a.json['model'], 'breast-cancer');
        assert.equal(a.json['model_version'], '1');
        assert.deepEqual(a.json['features_used'], FEATURES, 'features_used in model order');
        assert.ok(typeof a.json['latency_ms'] === 'number' && a.json['latency_ms'] >= 0, a.text);
        assert.equal(typeof a.json['cached'], 'boolean');
      }
      // Without the context the stale mean_radius is used: the answer differs.
      const stale = await Promise.all([0, 5, 17, 31].map((i) => post(s, '/predict', { user_id: `stale-${i}`, item_id: i })));
      assert.ok(stale.some((a, k) => Math.abs(a.json['probability'] - sigmoid(logit([0, 5, 17, 31][k]!))) > 1e-3),
        'the context value replaced the stored one');
    });

    test('numeric ids address user:{id} and item:{id}; user alone lacks the item features', T, async () => {
      const a = await post(s, '/predict', { user_id: 3, item_id: 3 });
      assert.equal(a.status, 200, a.text);
      close(a.json['probability'], sigmoid(logit(3)), 'row 3');
      const userOnly = await post(s, '/predict', { user_id: 3 });
      assertError(userOnly, 422, 'MISSING_FEATURE');
      assert.equal(userOnly.json['details']['feature'], ITEM_FEATURES[0]);
    });

    test('direct features give the golden probability; features win over the store', T, async () => {
      const a = await post(s, '/predict', { features: bc.records[9] });
      assert.equal(a.status, 200, a.text);
      close(a.json['probability'], sigmoid(logit(9)), 'row 9');
      const b = await post(s, '/predict', { user_id: 'stale-9', item_id: 9, features: { mean_radius: bc.records[9]!['mean_radius'] } });
      close(b.json['probability'], sigmoid(logit(9)), 'row 9 with a corrected stale feature');
      // The whole input as one array: scored from it, and no named feature was used.
      const whole = await post(s, '/predict', { features: { features: bc.inputs['features']!.data.slice(9 * 30, 10 * 30) } });
      assert.equal(whole.status, 200, whole.text);
      close(whole.json['probability'], sigmoid(logit(9)), 'row 9 as one array');
      assert.deepEqual(whole.json['features_used'], []);
      const mixed = await post(s, '/predict', { features: { features: bc.inputs['features']!.data.slice(9 * 30, 10 * 30), mean_radius: 1 } });
      assert.deepEqual(mixed.json['features_used'], ['mean_radius'], 'named features listed as before, even where the array wins');
    });

    test('instances: 32 golden records → 32 golden predictions in order', T, async () => {
      const a = await post(s, '/predict', { instances: bc.records });
      assert.equal(a.status, 200, a.text);
      assert.equal(a.json['model'], 'breast-cancer');
      assert.equal(a.json['model_version'], '1');
      assert.equal(typeof a.json['latency_ms'], 'number');
      const preds = a.json['predictions'] as Json[];
      assert.equal(preds.length, 32);
      preds.forEach((p, i) => {
        close(p['probability'], sigmoid(logit(i)), `instance ${i}`);
        assert.equal(p['prediction'], sigmoid(logit(i)) >= 0.5 ? 1 : 0);
      });
    });

    test('a wine-mixed record gives softmax probabilities of the golden logits', T, async () => {
      const a = await post(s, '/v1/models/wine-mixed/predict', { features: wine.records[4] });
      assert.equal(a.status, 200, a.text);
      const logits = wine.outputs['logits']!.data.slice(12, 15);
      const max = Math.max(...logits);
      const e = logits.map((x) => Math.exp(x - max));
      const sum = e.reduce((x, y) => x + y, 0);
      (a.json['probabilities'] as number[]).forEach((p, k) => close(p, e[k]! / sum, `class ${k}`));
      assert.equal(a.json['prediction'], logits.indexOf(max));
    });

    test('instances with a whole array per input: golden probabilities; a bad row fails only its own request, by its own row number', T, async () => {
      const numeric = wine.inputs['numeric']!.data;
      const buckets = wine.inputs['buckets']!.data;
      const rows = (from: number, n: number) => Array.from({ length: n }, (_, k) => ({
        numeric: numeric.slice((from + k) * 13, (from + k + 1) * 13),
        buckets: buckets.slice((from + k) * 3, (from + k + 1) * 3),
      }));
      const path = '/v1/models/wine-mixed/predict';
      // Sent together, so the batcher may put them in one run: the bad rows must not fail the good request.
      const [good, short, typed, nested] = await Promise.all([
        post(s, path, { instances: rows(0, 8) }),
        post(s, path, { instances: [...rows(8, 2), { numeric: numeric.slice(0, 12), buckets: buckets.slice(0, 3) }] }),
        post(s, path, { instances: [rows(10, 1)[0], { numeric: [1, 'x', ...numeric.slice(2, 13)], buckets: buckets.slice(0, 3) }] }),
        post(s, path, { instances: [{ numeric: [numeric.slice(0, 13)], buckets: buckets.slice(0, 3) }, { numeric: [[1, 2, 3], ...numeric.slice(2, 13)], buckets: buckets.slice(0, 3) }] }),
      ]);
      assert.equal(good.status, 200, good.text);
      const preds = good.json['predictions'] as Json[];
      assert.equal(preds.length, 8);
      preds.forEach((p, i) => {
        const logits = wine.outputs['logits']!.data.slice(i * 3, i * 3 + 3);
        const max = Math.max(...logits);
        const e = logits.map((x) => Math.exp(x - max));
        const sum = e.reduce((x, y) => x + y, 0);
        (p['probabilities'] as number[]).forEach((q, k) => close(q, e[k]! / sum, `row ${i} class ${k}`));
      });
      assertError(short, 422, 'SHAPE_MISMATCH');
      assert.deepEqual([short.json['details']['row'], short.json['details']['got']], [2, 12]);
      assertError(typed, 422, 'INVALID_FEATURE_TYPE');
      assert.deepEqual([typed.json['details']['row'], typed.json['details']['feature']], [1, 'numeric[1]']);
      assertError(nested, 422, 'SHAPE_MISMATCH');
      assert.equal(nested.json['details']['row'], 1, 'row 0 (one nested row) is fine; row 1 flattens to 13 values but 14 were sent');
    });
  });

  describe('models and versions', () => {
    test('/v1/models/{name}/predict and version selection', T, async () => {
      const body = { user_id: 11, item_id: 11 };
      const p = sigmoid(logit(11));
      const v1 = await post(s, '/v1/models/breast-cancer/predict', body);
      assert.equal(v1.status, 200, v1.text);
      assert.equal(v1.json['model_version'], '1', 'the pinned default version');
      assert.equal(v1.json['label'], p >= 0.5 ? 'benign' : 'malignant');
      const v2 = await post(s, '/v1/models/breast-cancer/predict', { ...body, version: '2' });
      assert.equal(v2.status, 200, v2.text);
      assert.equal(v2.json['model_version'], '2');
      assert.equal(v2.json['label'], p >= 0.5 ? 'B' : 'M', 'version 2 has its own labels');
      close(v2.json['probability'], p, 'v2 probability');
      const viaDefault = await post(s, '/predict', { ...body, version: '2' });
      assert.equal(viaDefault.json['model_version'], '2');
      const other = await post(s, '/v1/models/cancer/predict', body);
      assert.equal(other.status, 200, other.text);
      assert.equal(other.json['model'], 'cancer');
      assert.equal(other.json['model_version'], '7');
      close(other.json['probability'], p, 'cancer@7');
    });

    test('unknown model or version → 404 MODEL_NOT_FOUND', T, async () => {
      assertError(await post(s, '/v1/models/nope/predict', { features: bc.records[0] }), 404, 'MODEL_NOT_FOUND');
      assertError(await post(s, '/v1/models/breast-cancer/predict', { features: bc.records[0], version: '3' }), 404, 'MODEL_NOT_FOUND');
      assertError(await post(s, '/predict', { features: bc.records[0], version: '7' }), 404, 'MODEL_NOT_FOUND');
      assertError(await post(s, '/v1/models/cancer/predict', { features: bc.records[0], version: '1' }), 404, 'MODEL_NOT_FOUND');
    });

    test('GET /v1/models lists names, versions and defaults', T, async () => {
      const a = await get(s, '/v1/models');
      assert.equal(a.status, 200);
      const by = Object.fromEntries((a.json['models'] as Json[]).map((m) => [m['name'], m]));
      assert.deepEqual(by['breast-cancer'], { name: 'breast-cancer', versions: ['1', '2'], default: '1' });
      assert.deepEqual(by['cancer'], { name: 'cancer', versions: ['7'], default: '7' });
      assert.deepEqual(by['wine-mixed'], { name: 'wine-mixed', versions: ['1'], default: '1' });
    });
  });

  describe('Open Inference Protocol v2', () => {
    test('server metadata, live and ready', T, async () => {
      const meta = await get(s, '/v2');
      assert.equal(meta.status, 200);
      assert.equal(meta.json['name'], 'omniserve');
      assert.equal(typeof meta.json['version'], 'string');
      assert.ok(Array.isArray(meta.json['extensions']));
      assert.deepEqual((await get(s, '/v2/health/live')).json, { live: true });
      const ready = await get(s, '/v2/health/ready');
      assert.equal(ready.status, 200);
      assert.deepEqual(ready.json, { ready: true });
    });

    test('model metadata: -1 for dynamic dims, OIP datatype names, versions', T, async () => {
      const b = await get(s, '/v2/models/breast-cancer');
      assert.equal(b.status, 200, b.text);
      assert.equal(b.json['name'], 'breast-cancer');
      assert.deepEqual(b.json['versions'], ['1', '2']);
      assert.equal(b.json['platform'], 'onnxruntime_onnx');
      assert.equal(b.json['backend'], 'native-cpu');
      assert.deepEqual(b.json['inputs'], [{ name: 'features', datatype: 'FP32', shape: [-1, 30] }]);
      assert.deepEqual(b.json['outputs'], [{ name: 'logit', datatype: 'FP32', shape: [-1, 1] }]);
      const w = await get(s, '/v2/models/wine-mixed');
      assert.deepEqual(w.json['inputs'], [
        { name: 'numeric', datatype: 'FP32', shape: [-1, 13] },
        { name: 'buckets', datatype: 'INT64', shape: [-1, 3] },
      ]);
      assert.deepEqual(w.json['outputs'], [
        { name: 'logits', datatype: 'FP32', shape: [-1, 3] },
        { name: 'embedding', datatype: 'FP32', shape: [-1, 12] },
      ]);
    });

    test('version-addressed metadata and readiness; unknown ones 404', T, async () => {
      const m = await get(s, '/v2/models/breast-cancer/versions/2');
      assert.equal(m.status, 200, m.text);
      assert.equal(m.json['name'], 'breast-cancer');
      assert.deepEqual((await get(s, '/v2/models/breast-cancer/versions/2/ready')).json, { name: 'breast-cancer', version: '2', ready: true });
      assert.deepEqual((await get(s, '/v2/models/breast-cancer/ready')).json, { name: 'breast-cancer', version: '1', ready: true });
      assertError(await get(s, '/v2/models/breast-cancer/versions/9'), 404, 'MODEL_NOT_FOUND');
      assertError(await get(s, '/v2/models/breast-cancer/versions/9/ready'), 404, 'MODEL_NOT_FOUND');
      assertError(await get(s, '/v2/models/nope'), 404, 'MODEL_NOT_FOUND');
      assertError(await get(s, '/v2/models/nope/ready'), 404, 'MODEL_NOT_FOUND');
    });

    test('infer wine-mixed (FP32 nested + INT64): golden outputs, id echoed', T, async () => {
      const a = await post(s, '/v2/models/wine-mixed/infer', { id: 'req-42', inputs: wineInputs() });
      assert.equal(a.status, 200, a.text.slice(0, 500));
      assert.equal(a.json['model_name'], 'wine-mixed');
      assert.equal(a.json['model_version'], '1');
      assert.equal(a.json['id'], 'req-42');
      const outs = Object.fromEntries((a.json['outputs'] as Json[]).map((o) => [o['name'], o]));
      assert.deepEqual(Object.keys(outs).sort(), ['embedding', 'logits']);
      for (const name of ['logits', 'embedding']) {
        assert.equal(outs[name]['datatype'], 'FP32');
        assert.deepEqual(outs[name]['shape'], wine.outputs[name]!.dims);
        (outs[name]['data'] as number[]).forEach((x, k) => close(x, wine.outputs[name]!.data[k]!, `${name}[${k}]`));
      }
    });

    test('infer: outputs filter, version path, no id when none sent', T, async () => {
      const a = await post(s, '/v2/models/wine-mixed/versions/1/infer', { inputs: wineInputs(4), outputs: [{ name: 'embedding' }] });
      assert.equal(a.status, 200, a.text);
      assert.equal(a.json['id'], undefined);
      assert.deepEqual((a.json['outputs'] as Json[]).map((o) => o['name']), ['embedding']);
      assert.deepEqual(a.json['outputs'][0]['shape'], [4, 12]);
      const b = await post(s, '/v2/models/breast-cancer/versions/2/infer', {
        inputs: [{ name: 'features', shape: [32, 30], datatype: 'FP32', data: bc.inputs['features']!.data }],
      });
      assert.equal(b.status, 200, b.text.slice(0, 300));
      assert.equal(b.json['model_version'], '2');
      (b.json['outputs'][0]['data'] as number[]).forEach((x, i) => close(x, logit(i), `logit ${i}`));
    });

    test('concurrent infer requests share model runs (dynamic batching); each gets its own rows back', T, async () => {
      const before = await batchSizeSeries(s, 'breast-cancer');
      const data = bc.inputs['features']!.data;
      const answers = await Promise.all(Array.from({ length: 16 }, (_, k) => post(s, '/v2/models/breast-cancer/versions/2/infer', {
        id: `k${k}`, inputs: [{ name: 'features', shape: [2, 30], datatype: 'FP32', data: data.slice(k * 60, k * 60 + 60) }],
      })));
      answers.forEach((a, k) => {
        assert.equal(a.status, 200, a.text.slice(0, 300));
        assert.equal(a.json['id'], `k${k}`);
        const out = a.json['outputs'][0];
        assert.equal(out['shape'][0], 2);
        (out['data'] as number[]).forEach((x, r) => close(x, logit(2 * k + r), `request ${k} row ${r}`));
      });
      const after = await batchSizeSeries(s, 'breast-cancer');
      assert.equal(after.rows - before.rows, 32, 'every row ran once');
      assert.ok(after.runs - before.runs < 16, `16 requests in ${after.runs - before.runs} runs: some shared a run`);
    });

    test('infer errors: unknown output, unknown input, wrong datatype, shape, length', T, async () => {
      const [numeric, buckets] = wineInputs(2);
      const path = '/v2/models/wine-mixed/infer';
      const unknownOut = await post(s, path, { inputs: [numeric, buckets], outputs: [{ name: 'nope' }] });
      assertError(unknownOut, 422, 'INVALID_REQUEST');
      assert.equal(unknownOut.json['details']['output'], 'nope');
      const unknownIn = await post(s, path, { inputs: [numeric, buckets, { name: 'extra', shape: [1], datatype: 'FP32', data: [0] }] });
      assertError(unknownIn, 422, 'UNKNOWN_INPUT');
      assert.equal(unknownIn.json['details']['input'], 'extra');
      const dtype = await post(s, path, { inputs: [numeric, { ...buckets, datatype: 'FP32' }] });
      assertError(dtype, 422, 'DTYPE_MISMATCH');
      assert.equal(dtype.json['details']['input'], 'buckets');
      assertError(await post(s, path, { inputs: [{ ...numeric, shape: [2, 12], data: wine.inputs['numeric']!.data.slice(0, 24) }, buckets] }), 422, 'SHAPE_MISMATCH');
      assertError(await post(s, path, { inputs: [{ ...numeric, shape: [3, 13] }, buckets] }), 422, 'SHAPE_MISMATCH');
      assertError(await post(s, path, { inputs: [numeric] }), 422, 'MISSING_INPUT');
    });
  });

  describe('OIP binary tensor data extension', () => {
    const path = '/v2/models/wine-mixed/infer';
    /** A request of the extension: JSON header, then the raw tensors; sent as bytes. */
    const binaryRequest = (header: unknown, tensors: ArrayBufferView[], headerLength?: string) => {
      const bin = binaryBody(header, tensors);
      return s.app.request(`http://localhost${path}`, {
        method: 'POST', body: bin.body,
        headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': headerLength ?? String(bin.headerLength) },
      });
    };
    const numeric = (rows: number) => new Float32Array(wine.inputs['numeric']!.data.slice(0, rows * 13));
    const buckets = (rows: number) => BigInt64Array.from(wine.inputs['buckets']!.data.slice(0, rows * 3).map((x) => BigInt(x)));
    const inputs = (rows: number) => [
      { name: 'numeric', shape: [rows, 13], datatype: 'FP32', parameters: { binary_data_size: rows * 13 * 4 } },
      { name: 'buckets', shape: [rows, 3], datatype: 'INT64', parameters: { binary_data_size: rows * 3 * 8 } },
    ];
    /** Splits an answer of the extension into its JSON and the bytes after it. */
    const split = async (res: Response) => {
      const bytes = new Uint8Array(await res.arrayBuffer());
      const n = Number(res.headers.get('inference-header-content-length') ?? bytes.byteLength);
      return { json: JSON.parse(new TextDecoder().decode(bytes.subarray(0, n))) as Json, rest: bytes.slice(n) };
    };

    test('/v2 lists binary_tensor_data', T, async () => {
      assert.ok(((await get(s, '/v2')).json['extensions'] as string[]).includes('binary_tensor_data'));
    });

    test('binary inputs (FP32 + INT64) give the golden outputs as JSON; binary outputs on request', T, async () => {
      const a = await binaryRequest({ id: 'bin-1', inputs: inputs(32) }, [numeric(32), buckets(32)]);
      assert.equal(a.status, 200);
      assert.equal(a.headers.get('inference-header-content-length'), null, 'JSON answer when no binary output was asked');
      const j = (await a.json()) as Json;
      assert.equal(j['id'], 'bin-1');
      const logits = (j['outputs'] as Json[]).find((o) => o['name'] === 'logits')!;
      (logits['data'] as number[]).forEach((x, k) => close(x, wine.outputs['logits']!.data[k]!, `logits[${k}]`));

      // One output binary (per-output parameter), the other JSON.
      const b = await binaryRequest({ inputs: inputs(4), outputs: [{ name: 'logits', parameters: { binary_data: true } }, { name: 'embedding' }] },
        [numeric(4), buckets(4)]);
      assert.equal(b.status, 200);
      assert.equal(b.headers.get('content-type'), 'application/octet-stream');
      const { json, rest } = await split(b);
      const [lo, em] = json['outputs'] as Json[];
      assert.equal(lo['name'], 'logits');
      assert.equal(lo['data'], undefined);
      assert.equal(lo['parameters']['binary_data_size'], 4 * 3 * 4);
      assert.equal(rest.byteLength, 4 * 3 * 4, 'the bytes after the header are exactly the binary outputs');
      const got = new Float32Array(rest.buffer, rest.byteOffset, 12);
      got.forEach((x, k) => close(x, wine.outputs['logits']!.data[k]!, `binary logits[${k}]`));
      assert.deepEqual(em['shape'], [4, 12]);
      assert.equal((em['data'] as number[]).length, 48);

      // binary_data_output: every output binary, in the order listed.
      const c = await binaryRequest({ parameters: { binary_data_output: true }, inputs: inputs(2) }, [numeric(2), buckets(2)]);
      const all = await split(c);
      const sizes = (all.json['outputs'] as Json[]).map((o) => o['parameters']['binary_data_size'] as number);
      assert.equal(all.rest.byteLength, sizes.reduce((x, y) => x + y, 0));
    });

    test('JSON data and binary data mix in one request; a JSON request may ask for binary outputs', T, async () => {
      const [num, bk] = inputs(3);
      const mixed = await binaryRequest({ inputs: [{ ...num, parameters: undefined, data: [...numeric(3)] }, bk] }, [buckets(3)]);
      assert.equal(mixed.status, 200, await mixed.clone().text());
      const a = await post(s, path, { inputs: wineInputs(2), parameters: { binary_data_output: true } });
      assert.equal(a.status, 200);
      assert.equal(a.headers.get('content-type'), 'application/octet-stream');
      assert.ok(Number(a.headers.get('inference-header-content-length')) > 0);
    });

    test('bad binary requests are named 4xx errors and the server goes on', T, async () => {
      const ask = async (res: Response, status: number, code: string) => {
        const text = await res.text();
        assertError({ status: res.status, headers: res.headers, text, json: JSON.parse(text) as Json }, status, code);
      };
      // Header length past the body, not a number, negative.
      await ask(await binaryRequest({ inputs: inputs(1) }, [numeric(1), buckets(1)], '999999'), 422, 'INVALID_REQUEST');
      await ask(await binaryRequest({ inputs: inputs(1) }, [numeric(1), buckets(1)], 'abc'), 422, 'INVALID_REQUEST');
      await ask(await binaryRequest({ inputs: inputs(1) }, [numeric(1), buckets(1)], '-1'), 422, 'INVALID_REQUEST');
      // Header length cutting the JSON short: malformed JSON.
      await ask(await binaryRequest({ inputs: inputs(1) }, [numeric(1), buckets(1)], '10'), 400, 'INVALID_JSON');
      // Fewer bytes than binary_data_size promises; more bytes than claimed.
      await ask(await binaryRequest({ inputs: inputs(1) }, [numeric(1)]), 422, 'INVALID_REQUEST');
      await ask(await binaryRequest({ inputs: inputs(1) }, [numeric(1), buckets(1), new Uint8Array(3)]), 422, 'INVALID_REQUEST');
      // binary_data_size that does not fit the shape, and one that is not a byte count.
      const [num, bk] = inputs(1);
      await ask(await binaryRequest({ inputs: [{ ...num, parameters: { binary_data_size: 48 } }, bk] }, [numeric(1).subarray(0, 12), buckets(1)]), 422, 'SHAPE_MISMATCH');
      await ask(await binaryRequest({ inputs: [{ ...num, parameters: { binary_data_size: 'x' } }, bk] }, [numeric(1), buckets(1)]), 422, 'INVALID_REQUEST');
      // NaN in a binary float tensor; an input with neither data nor a binary size; both.
      const nan = numeric(1);
      nan[5] = Number.NaN;
      await ask(await binaryRequest({ inputs: inputs(1) }, [nan, buckets(1)]), 422, 'INVALID_FEATURE_VALUE');
      await ask(await binaryRequest({ inputs: [{ ...num, parameters: {} }, bk] }, [buckets(1)]), 422, 'INVALID_REQUEST');
      await ask(await binaryRequest({ inputs: [{ ...num, data: [...numeric(1)] }, bk] }, [numeric(1), buckets(1)]), 422, 'INVALID_REQUEST');
      // binary_data_size in a JSON-only request (no header).
      assertError(await post(s, path, { inputs: inputs(1) }), 422, 'INVALID_REQUEST');
      // Still serving.
      const ok = await binaryRequest({ inputs: inputs(1) }, [numeric(1), buckets(1)]);
      assert.equal(ok.status, 200);
    });
  });

  describe('prediction cache', () => {
    const metric = async (name: string, labels: string) => {
      const m = (await get(s, '/metrics')).text;
      const line = m.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
      return line ? Number(line.split(' ').pop()) : 0;
    };

    test('repeat → cached: true; another version never gets this version\'s answer; counters', T, async () => {
      const hits0 = await metric('omniserve_cache_hits_total', 'model="breast-cancer"');
      const misses0 = await metric('omniserve_cache_misses_total', 'model="breast-cancer"');
      const body = { user_id: 21, item_id: 21, context: { probe: 'cache' } };
      const p = sigmoid(logit(21));
      const first = await post(s, '/predict', body);
      assert.equal(first.status, 200, first.text);
      assert.equal(first.json['cached'], false);
      const second = await post(s, '/predict', body);
      assert.equal(second.json['cached'], true);
      assert.equal(second.json['probability'], first.json['probability']);
      assert.equal(second.json['model_version'], '1');
      const v2 = await post(s, '/v1/models/breast-cancer/predict', { ...body, version: '2' });
      assert.equal(v2.status, 200, v2.text);
      assert.equal(v2.json['cached'], false, 'version 2 does not read version 1\'s entry');
      assert.equal(v2.json['model_version'], '2');
      assert.equal(v2.json['label'], p >= 0.5 ? 'B' : 'M');
      const v2again = await post(s, '/v1/models/breast-cancer/predict', { ...body, version: '2' });
      assert.equal(v2again.json['cached'], true);
      assert.equal(v2again.json['label'], p >= 0.5 ? 'B' : 'M');
      const v1again = await post(s, '/predict', body);
      assert.equal(v1again.json['label'], p >= 0.5 ? 'benign' : 'malignant', 'version 1 still reads its own entry');
      assert.equal(await metric('omniserve_cache_hits_total', 'model="breast-cancer"') - hits0, 3);
      assert.equal(await metric('omniserve_cache_misses_total', 'model="breast-cancer"') - misses0, 2);
    });

    test('a batch mixes cached and fresh rows', T, async () => {
      const first = await post(s, '/predict', { instances: [bc.records[22], bc.records[23]] });
      assert.equal(first.status, 200, first.text);
      const mixed = await post(s, '/predict', { instances: [bc.records[23], bc.records[24], bc.records[22]] });
      assert.equal(mixed.status, 200, mixed.text);
      [23, 24, 22].forEach((row, k) => close(mixed.json['predictions'][k]['probability'], sigmoid(logit(row)), `row ${row}`));
    });
  });

  describe('operations routes', () => {
    test('/health: healthy, models, feature store, cache', T, async () => {
      const a = await get(s, '/health');
      assert.equal(a.status, 200, a.text);
      assert.equal(a.json['status'], 'healthy');
      assert.deepEqual(a.json['feature_store'], { kind: 'memory', ok: true });
      assert.equal(a.json['cache'], 'memory');
      assert.ok((a.json['models'] as Json[]).some((m) => m['name'] === 'breast-cancer' && m['backend'] === 'native-cpu'));
    });

    test('/metrics after traffic passes `promtool check metrics`', T, async () => {
      await post(s, '/predict', { user_id: 1, item_id: 1 });
      await post(s, '/predict', { user_id: 'ghost' });
      await post(s, '/v2/models/wine-mixed/infer', { inputs: [] });
      const a = await get(s, '/metrics');
      assert.equal(a.status, 200);
      assert.match(a.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      for (const name of ['omniserve_requests_total', 'omniserve_request_duration_seconds_bucket', 'omniserve_batch_size_rows_bucket',
        'omniserve_inference_duration_seconds_count', 'omniserve_cache_hits_total', 'omniserve_backend_info', 'omniserve_requests_in_flight']) {
        assert.ok(a.text.includes(`\n${name}`) || a.text.startsWith(name), `${name} is exposed`);
      }
      assert.match(a.text, /omniserve_requests_total\{[^}]*route="\/predict"[^}]*status="404"[^}]*\} 1/);
      const r = await promtool(a.text);
      assert.equal(r.code, 0, `promtool check metrics failed:\n${r.out}\n--- metrics\n${a.text.slice(0, 3000)}`);
      assert.equal(r.out.trim(), '', `promtool has complaints:\n${r.out}`);
    });

    test('/openapi.json: OpenAPI 3.1.0, every spec path is served', T, async () => {
      const a = await get(s, '/openapi.json');
      assert.equal(a.status, 200);
      assert.equal(a.json['openapi'], '3.1.0');
      const served = servedRoutes(s);
      for (const [path, ops] of Object.entries(a.json['paths'] as Record<string, Record<string, unknown>>)) {
        for (const method of Object.keys(ops)) assert.ok(served.has(`${method.toUpperCase()} ${path}`), `spec lists ${method} ${path}, which the app does not serve`);
      }
    });

    test('/openapi.json lists every route the app serves', T, async () => {
      const spec = (await get(s, '/openapi.json')).json;
      const listed = new Set(Object.entries(spec['paths'] as Record<string, Record<string, unknown>>)
        .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)));
      const missing = [...servedRoutes(s)].filter((r) => !listed.has(r));
      assert.deepEqual(missing, [], `routes missing from /openapi.json: ${missing.join(', ')}`);
    });

    test('/docs is an HTML page naming the routes', T, async () => {
      const a = await get(s, '/docs');
      assert.equal(a.status, 200);
      assert.match(a.headers.get('content-type') ?? '', /^text\/html/);
      assert.match(a.text, /^<!doctype html>/i);
      assert.match(a.text, /POST \/predict/);
      assert.match(a.text, /\/v2\/models\/\{name\}\/infer/);
    });
  });
});
