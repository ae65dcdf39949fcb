// Half-precision, strings and the other less common tensor types over HTTP (app.request, a
// real engine): the Open Inference Protocol's FP16, INT16, UINT16, UINT32, UINT64 and BYTES
// datatypes in metadata, JSON and binary data, and float16 and categorical models behind
// the seed-compatible route.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { binaryBody } from './binary-body.ts';
import { fromHalf } from '../core/tensor.ts';
import { appHarness, assertError, get, post, T, type BuiltServer, type Json } from '../../test/support/http-app.ts';
import { bc, readJsonFile, ROOT, sigmoid } from '../../test/support/golden.ts';
import { join } from 'node:path';

const fp16 = readJsonFile<{
  inputs: { features: { dims: number[]; bits: number[] } };
  outputs: { logit: { bits: number[]; values: number[] } };
}>('test/fixtures/goldens/breast-cancer-fp16.json');
const wineCat = readJsonFile<{ records: Record<string, number | string>[]; outputs: { logits: { data: number[] } } }>('test/fixtures/goldens/wine-categorical.json');
const NUMERIC = ['alcohol', 'malic_acid', 'flavanoids', 'proline', 'hue'];
const model = (name: string) => join(ROOT, `test/fixtures/models/${name}.onnx`);
const { server } = appHarness();

/** Within one float16 step of numpy's answer (float32 sums may round the last bit apart). */
function closeHalf(got: number, want: number, what: string): void {
  assert.ok(Math.abs(got - want) <= Math.max(Math.abs(want) * 2 ** -10, 2 ** -24), `${what}: got ${got}, want ${want}`);
}

describe('float16 and the other OIP datatypes over HTTP', { timeout: 120_000 }, () => {
  let s: BuiltServer;
  before(async () => {
    s = await server({ models: [{ path: model('breast-cancer-fp16') }, { path: model('dtypes') }, { path: model('wine-categorical') }, { path: model('string-output') }, { path: model('iris-zipmap') }], featureStore: { kind: 'none' }, cache: { kind: 'none' } });
  });
  const infer = (name: string, body: unknown) => post(s, `/v2/models/${name}/infer`, body);

  test('model metadata names FP16 and the integer datatypes', T, async () => {
    const m = (await get(s, '/v2/models/breast-cancer-fp16')).json;
    assert.deepEqual(m['inputs'], [{ name: 'features', datatype: 'FP16', shape: [-1, 30] }]);
    assert.deepEqual(m['outputs'], [{ name: 'logit', datatype: 'FP16', shape: [-1, 1] }]);
    const d = (await get(s, '/v2/models/dtypes')).json;
    assert.deepEqual((d['inputs'] as Json[]).map((i) => i['datatype']), ['INT8', 'INT16', 'UINT16', 'UINT32', 'UINT64', 'FP16', 'BOOL']);
  });

  test('FP16 as JSON numbers: rounded to half precision, answered as numbers', T, async () => {
    const a = await infer('breast-cancer-fp16', { id: 'h1', inputs: [{ name: 'features', shape: [32, 30], datatype: 'FP16', data: bc.inputs['features']!.data }] });
    assert.equal(a.status, 200, a.text);
    const [out] = a.json['outputs'] as Json[];
    assert.equal(out['datatype'], 'FP16');
    assert.deepEqual(out['shape'], [32, 1]);
    (out['data'] as number[]).forEach((x, i) => closeHalf(x, fp16.outputs.logit.values[i]!, `logit[${i}]`));
  });

  test('FP16 as binary data: the bits go in and come out as they are', T, async () => {
    const bits = Uint16Array.from(fp16.inputs.features.bits);
    const bin = binaryBody({ inputs: [{ name: 'features', shape: [32, 30], datatype: 'FP16', parameters: { binary_data_size: bits.byteLength } }], parameters: { binary_data_output: true } }, [bits]);
    const res = await s.app.request('http://localhost/v2/models/breast-cancer-fp16/infer', {
      method: 'POST', body: bin.body,
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(bin.headerLength) },
    });
    assert.equal(res.status, 200);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const n = Number(res.headers.get('inference-header-content-length'));
    const head = JSON.parse(new TextDecoder().decode(bytes.subarray(0, n))) as Json;
    assert.equal(head['outputs'][0]['datatype'], 'FP16');
    assert.equal(head['outputs'][0]['parameters']['binary_data_size'], 32 * 2);
    const out = new Uint16Array(bytes.slice(n).buffer);
    fp16.outputs.logit.bits.forEach((b, i) => assert.ok(Math.abs(out[i]! - b) <= 1, `logit[${i}]: bits ${out[i]}, numpy ${b} (${fromHalf(b)})`));
  });

  test('INT8, INT16, UINT16, UINT32, UINT64, FP16 and BOOL round-trip through the model', T, async () => {
    const inputs = [
      { name: 'i8', datatype: 'INT8', data: [-128, 127, 0, -1] },
      { name: 'i16', datatype: 'INT16', data: [-32768, 32767, 12345, -2] },
      { name: 'u16', datatype: 'UINT16', data: [0, 65535, 40000, 1] },
      { name: 'u32', datatype: 'UINT32', data: [0, 4294967295, 3000000000, 7] },
      { name: 'u64', datatype: 'UINT64', data: [0, 9007199254740991, 2 ** 40, 12345] },
      { name: 'f16', datatype: 'FP16', data: [0.5, -65504, 2 ** -24, 1.5] },
      { name: 'b', datatype: 'BOOL', data: [true, false, false, true] },
    ].map((x) => ({ ...x, shape: [2, 2] }));
    const a = await infer('dtypes', { inputs });
    assert.equal(a.status, 200, a.text);
    const outs = new Map((a.json['outputs'] as Json[]).map((o) => [o['name'] as string, o]));
    for (const x of inputs) {
      const o = outs.get(`${x.name}_out`)!;
      assert.equal(o['datatype'], x.datatype);
      assert.deepEqual(o['data'], x.data.map(Number), `${x.name}_out`);
    }
    assert.deepEqual(outs.get('f16_as_f32')!['data'], [0.5, -65504, 2 ** -24, 1.5]);
    assert.equal(outs.get('f16_as_f32')!['datatype'], 'FP32');
  });

  test('values a datatype cannot hold are 422s naming the value; the server goes on', T, async () => {
    const base = (over: Record<string, unknown>) => ({
      inputs: [
        { name: 'i8', datatype: 'INT8', data: [0, 0] }, { name: 'i16', datatype: 'INT16', data: [0, 0] }, { name: 'u16', datatype: 'UINT16', data: [0, 0] },
        { name: 'u32', datatype: 'UINT32', data: [0, 0] }, { name: 'u64', datatype: 'UINT64', data: [0, 0] }, { name: 'f16', datatype: 'FP16', data: [0, 0] },
        { name: 'b', datatype: 'BOOL', data: [0, 0] },
      ].map((x) => ({ ...x, shape: [1, 2], ...(x.name in over ? { data: over[x.name] } : {}) })),
    });
    const bad = async (over: Record<string, unknown>, code: string, pattern: RegExp) => {
      const a = await infer('dtypes', base(over));
      assertError(a, 422, code);
      assert.match(a.json['error'], pattern, a.text);
    };
    await bad({ f16: [1e5, 0] }, 'INVALID_FEATURE_VALUE', /f16\[0\] is 100000; float16 holds ±65504/);
    await bad({ u16: [0, -1] }, 'INVALID_FEATURE_VALUE', /u16\[1\] is -1; uint16 holds 0\.\.65535/);
    await bad({ u32: [2 ** 32, 0] }, 'INVALID_FEATURE_VALUE', /uint32 holds/);
    await bad({ u64: [-5, 0] }, 'INVALID_FEATURE_VALUE', /uint64 holds/);
    await bad({ i16: [0.5, 0] }, 'INVALID_FEATURE_TYPE', /int16 needs an integer/);
    assertError(await infer('dtypes', { inputs: [{ name: 'f16', datatype: 'BF16', shape: [1, 2], data: [0, 0] }] }), 422, 'INVALID_REQUEST');
    assert.equal((await infer('dtypes', base({}))).status, 200, 'still answers');
  });

  test('the seed-compatible route scores a float16 model from named features', T, async () => {
    for (const i of [0, 7, 19]) {
      const a = await post(s, '/v1/models/breast-cancer-fp16/predict', { features: bc.records[i] });
      assert.equal(a.status, 200, a.text);
      const want = sigmoid(fp16.outputs.logit.values[i]!);
      assert.ok(Math.abs(a.json['probability'] - want) < 1e-3, `row ${i}: ${a.json['probability']} vs ${want}`);
    }
    const big = await post(s, '/v1/models/breast-cancer-fp16/predict', { features: { ...bc.records[0], worst_area: 1e6 } });
    assertError(big, 422, 'INVALID_FEATURE_VALUE');
    assert.match(big.json['error'], /worst_area.*float16 holds ±65504/);
  });

  /** BYTES as the binary extension writes it: a 4-byte little-endian length, then the UTF-8. */
  const bytesTensor = (xs: string[]) => {
    const parts = xs.map((x) => new TextEncoder().encode(x));
    const out = new Uint8Array(parts.reduce((n, p) => n + 4 + p.byteLength, 0));
    let at = 0;
    for (const p of parts) {
      new DataView(out.buffer).setUint32(at, p.byteLength, true);
      out.set(p, at + 4);
      at += 4 + p.byteLength;
    }
    return out;
  };
  const catInputs = (rows: number) => [
    { name: 'numeric', shape: [rows, 5], datatype: 'FP32', data: wineCat.records.slice(0, rows).flatMap((r) => NUMERIC.map((n) => r[n])) },
    { name: 'color_band', shape: [rows, 1], datatype: 'BYTES', data: wineCat.records.slice(0, rows).map((r) => r['color_band']) },
  ];
  const sendBinary = (path: string, header: unknown, tensors: Uint8Array[]) => {
    const bin = binaryBody(header, tensors);
    return s.app.request(`http://localhost${path}`, {
      method: 'POST', body: bin.body,
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(bin.headerLength) },
    });
  };

  test('BYTES: string inputs as JSON strings and as length-prefixed binary data give scikit-learn\'s logits', T, async () => {
    const meta = (await get(s, '/v2/models/wine-categorical')).json;
    assert.deepEqual(meta['inputs'], [{ name: 'numeric', datatype: 'FP32', shape: [-1, 5] }, { name: 'color_band', datatype: 'BYTES', shape: [-1, 1] }]);
    const rows = wineCat.records.length;
    const a = await infer('wine-categorical', { inputs: catInputs(rows) });
    assert.equal(a.status, 200, a.text);
    const logits = (a.json['outputs'] as Json[])[0]!['data'] as number[];
    logits.forEach((x, k) => assert.ok(Math.abs(x - wineCat.outputs.logits.data[k]!) <= 1e-4 * Math.max(1, Math.abs(x)), `logits[${k}] ${x}`));
    const [num, band] = catInputs(rows);
    const bands = bytesTensor(band!.data as string[]);
    const numBytes = new Uint8Array(Float32Array.from(num!.data as number[]).buffer);
    const b = await sendBinary('/v2/models/wine-categorical/infer', {
      inputs: [{ ...num, data: undefined, parameters: { binary_data_size: numBytes.byteLength } }, { ...band, data: undefined, parameters: { binary_data_size: bands.byteLength } }],
    }, [numBytes, bands]);
    assert.equal(b.status, 200);
    assert.deepEqual(((await b.json()) as Json)['outputs'][0]['data'], logits, 'binary BYTES give the JSON answer');
  });

  test('BYTES that are not strings, not UTF-8 or run past their size are 422s', T, async () => {
    const [num, band] = catInputs(1);
    assertError(await infer('wine-categorical', { inputs: [num, { ...band, data: [3] }] }), 422, 'INVALID_FEATURE_TYPE');
    assertError(await infer('wine-categorical', { inputs: [num, { ...band, datatype: 'FP32', data: [1] }] }), 422, 'DTYPE_MISMATCH');
    const numBytes = new Uint8Array(Float32Array.from(num!.data as number[]).buffer);
    const bin = async (bytes: Uint8Array) => {
      const res = await sendBinary('/v2/models/wine-categorical/infer', {
        inputs: [{ ...num, data: undefined, parameters: { binary_data_size: 20 } }, { ...band, data: undefined, parameters: { binary_data_size: bytes.byteLength } }],
      }, [numBytes, bytes]);
      return { status: res.status, json: (await res.json()) as Json };
    };
    const notUtf8 = new Uint8Array([2, 0, 0, 0, 0xc3, 0x28]);
    let r = await bin(notUtf8);
    assert.equal(r.status, 422);
    assert.equal(r.json['code'], 'INVALID_FEATURE_VALUE');
    r = await bin(new Uint8Array([9, 0, 0, 0, 0x61]));
    assert.equal(r.status, 422);
    assert.equal(r.json['code'], 'SHAPE_MISMATCH', 'a length past the data');
    r = await bin(bytesTensor(['pale', 'deep']));
    assert.equal(r.status, 422);
    assert.equal(r.json['code'], 'SHAPE_MISMATCH', 'two strings for a [1, 1] tensor');
    assert.equal((await infer('wine-categorical', { inputs: catInputs(1) })).status, 200, 'still answers');
  });

  test('a categorical model on the seed-compatible route: the band as text (or a number) from the features', T, async () => {
    for (const i of [0, 4, 9]) {
      const a = await post(s, '/v1/models/wine-categorical/predict', { features: wineCat.records[i] });
      assert.equal(a.status, 200, a.text);
      const z = wineCat.outputs.logits.data.slice(i * 3, i * 3 + 3);
      const e = z.map((x) => Math.exp(x - Math.max(...z)));
      const best = e.indexOf(Math.max(...e));
      assert.equal(a.json['prediction'], best);
      assert.equal(a.json['label'], `class_${best}`);
      assert.ok(Math.abs(a.json['probability'] - e[best]! / e.reduce((x, y) => x + y, 0)) < 1e-4, a.text);
      assert.ok((a.json['features_used'] as string[]).includes('color_band'), a.text);
    }
    const bad = await post(s, '/v1/models/wine-categorical/predict', { features: { ...wineCat.records[0], color_band: true } });
    assertError(bad, 422, 'INVALID_FEATURE_TYPE');
    assert.equal(bad.json['details']['feature'], 'color_band');
    const missing = await post(s, '/v1/models/wine-categorical/predict', { features: { ...wineCat.records[0], color_band: null } });
    assertError(missing, 422, 'MISSING_FEATURE');
  });

  test('a string output is answered as BYTES: strings in JSON, length-prefixed UTF-8 as binary data', T, async () => {
    const meta = (await get(s, '/v2/models/string-output')).json;
    assert.deepEqual(meta['outputs'], [{ name: 's_out', datatype: 'BYTES', shape: [-1, 1] }]);
    const texts = ['pale', 'déjà vu', ''];
    const a = await infer('string-output', { inputs: [{ name: 's', shape: [3, 1], datatype: 'BYTES', data: texts }] });
    assert.equal(a.status, 200, a.text);
    assert.deepEqual(a.json['outputs'], [{ name: 's_out', datatype: 'BYTES', shape: [3, 1], data: texts }]);
    const res = await sendBinary('/v2/models/string-output/infer', {
      inputs: [{ name: 's', shape: [3, 1], datatype: 'BYTES', data: texts }], outputs: [{ name: 's_out', parameters: { binary_data: true } }],
    }, []);
    assert.equal(res.status, 200);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const n = Number(res.headers.get('inference-header-content-length'));
    const head = JSON.parse(new TextDecoder().decode(bytes.subarray(0, n))) as Json;
    assert.equal(head['outputs'][0]['datatype'], 'BYTES');
    assert.deepEqual([...bytes.subarray(n)], [...bytesTensor(texts)]);
    assert.equal(head['outputs'][0]['parameters']['binary_data_size'], bytesTensor(texts).byteLength);
  });

  test('a ZipMap classifier: label and probabilities served, the map output named as skipped in /health and absent from the metadata', T, async () => {
    const iris = readJsonFile<{ rows: number[][]; predicted: number[]; probabilities: number[][] }>('test/fixtures/goldens/iris-zipmap.json');
    const health = (await get(s, '/health')).json;
    const entry = (health['models'] as Json[]).find((m) => m['name'] === 'iris-zipmap')!;
    assert.deepEqual((entry['skipped_outputs'] as Json[]).map((o) => o['name']), ['output_probability']);
    const meta = (await get(s, '/v2/models/iris-zipmap')).json;
    assert.deepEqual(meta['outputs'], [{ name: 'output_label', datatype: 'INT64', shape: [-1] }, { name: 'probability_tensor', datatype: 'FP32', shape: [-1, 3] }]);
    const a = await infer('iris-zipmap', { inputs: [{ name: 'float_input', shape: [iris.rows.length, 4], datatype: 'FP32', data: iris.rows.flat() }] });
    assert.equal(a.status, 200, a.text);
    const outs = a.json['outputs'] as Json[];
    assert.deepEqual(outs[0], { name: 'output_label', datatype: 'INT64', shape: [iris.rows.length], data: iris.predicted });
    assert.deepEqual(outs[1]['shape'], [iris.rows.length, 3]);
    (outs[1]['data'] as number[]).forEach((v, i) => assert.ok(Math.abs(v - iris.probabilities.flat()[i]!) < 1e-5, `probability ${i}`));
    // Asking for the skipped output by name is the client's mistake, named.
    const b = await infer('iris-zipmap', { inputs: [{ name: 'float_input', shape: [1, 4], datatype: 'FP32', data: iris.rows[0] }], outputs: [{ name: 'output_probability' }] });
    assert.equal(b.status >= 400 && b.status < 500, true, `${b.status} ${b.text}`);
  });
});
