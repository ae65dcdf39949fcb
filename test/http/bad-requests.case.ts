/**
 * A corpus of bad requests for every endpoint of `omniserve serve`, with the status and
 * error code each must get. Shared data, not a test: `serve-hosts.test.ts` feeds it to a
 * real server on Node, Bun and Deno.
 *
 * The server it expects: models `breast-cancer` (v1, the default model), `wine-mixed` (v1)
 * and `breast-cancer-fp16` (v1, float16 input and output) from test/fixtures/models, a memory feature store holding `user:0` … `user:31` (the
 * breast-cancer golden records), a memory prediction cache, and the limits in
 * {@link CORPUS_LIMITS}.
 */
import { binaryBody } from '../../src/http/binary-body.ts';
import type { RawRequest } from '../support/serve-process.ts';

/** Server limits the corpus is written against (put them in the server's config). */
export const CORPUS_LIMITS = { maxBodyBytes: 256 * 1024, maxRecords: 50 } as const;

/** One bad request and what it must get. */
export interface BadCase {
  readonly name: string;
  readonly request: RawRequest;
  /** Accepted statuses (the first is the documented one). */
  readonly status: readonly number[];
  /** Accepted `code`s. */
  readonly code: readonly string[];
  /** `details.feature` must be this. */
  readonly detailsFeature?: string;
  /** `details.input` must be this. */
  readonly detailsInput?: string;
  /** A known bug: the case stays visible as a todo test. */
  readonly todo?: string;
}

/** What the corpus is built from (the goldens). */
export interface CorpusInput {
  /** breast-cancer golden records (30 named features each). */
  readonly bcRecords: readonly Readonly<Record<string, number>>[];
  /** wine-mixed golden input tensors, flat row-major. */
  readonly wineNumeric: readonly number[];
  readonly wineBuckets: readonly number[];
}

export const PREDICT_PATHS = ['/predict', '/v1/models/breast-cancer/predict'] as const;
export const INFER_PATHS = ['/v2/models/wine-mixed/infer', '/v2/models/wine-mixed/versions/1/infer'] as const;
/** Every GET endpoint the server has. */
export const GET_PATHS = [
  '/health', '/metrics', '/openapi.json', '/docs', '/v1/models', '/v2', '/v2/health/live', '/v2/health/ready',
  '/v2/models/wine-mixed', '/v2/models/wine-mixed/ready', '/v2/models/wine-mixed/versions/1', '/v2/models/wine-mixed/versions/1/ready',
] as const;

const JSON_TYPE = { 'content-type': 'application/json' };
const json = (path: string, body: string | Uint8Array, method = 'POST'): RawRequest => ({ method, path, headers: JSON_TYPE, body });
const obj = (path: string, body: unknown, method = 'POST'): RawRequest => json(path, JSON.stringify(body), method);

// Wrong methods: METHOD_NOT_ALLOWED (405) when the route exists for another method.
const WRONG_METHOD = { status: [405], code: ['METHOD_NOT_ALLOWED'] } as const;


/** Builds the corpus. */
export function badRequestCorpus(input: CorpusInput): BadCase[] {
  const { bcRecords } = input;
  const rec0 = bcRecords[0]!;
  const cases: BadCase[] = [];
  const add = (c: BadCase) => cases.push(c);

  const tensors = (rows = 2) => [
    { name: 'numeric', shape: [rows, 13], datatype: 'FP32', data: input.wineNumeric.slice(0, rows * 13) },
    { name: 'buckets', shape: [rows, 3], datatype: 'INT64', data: input.wineBuckets.slice(0, rows * 3) },
  ];
  const goodInfer = { inputs: tensors() };
  const deep = (depth: number, leaf = '1') => '['.repeat(depth) + leaf + ']'.repeat(depth);
  const DEPTH = 100_000; // 200 KB of brackets: under the 256 KiB body limit
  const tooBig = new Uint8Array(CORPUS_LIMITS.maxBodyBytes + 64 * 1024).fill(0x20);
  const chunks = Array.from({ length: 40 }, () => new Uint8Array(10_000).fill(0x20)); // 400 KB, no Content-Length

  // ---- every POST endpoint: transport and JSON problems ----
  for (const path of [...PREDICT_PATHS, ...INFER_PATHS]) {
    const p = `POST ${path}`;
    add({ name: `${p}: malformed JSON`, request: json(path, '{"user_id": 1, "inputs": ['), status: [400], code: ['INVALID_JSON'] });
    add({ name: `${p}: trailing garbage after JSON`, request: json(path, '{"user_id": 1} xyz'), status: [400], code: ['INVALID_JSON'] });
    add({ name: `${p}: empty body`, request: json(path, ''), status: [400], code: ['INVALID_JSON'] });
    add({ name: `${p}: whitespace-only body`, request: json(path, ' \n\t '), status: [400], code: ['INVALID_JSON'] });
    add({ name: `${p}: text/plain content type`, request: { method: 'POST', path, headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ user_id: 0, ...goodInfer }) }, status: [415], code: ['UNSUPPORTED_MEDIA_TYPE'] });
    add({ name: `${p}: no content type`, request: { method: 'POST', path, body: JSON.stringify({ user_id: 0, ...goodInfer }) }, status: [415], code: ['UNSUPPORTED_MEDIA_TYPE'] });
    add({ name: `${p}: form content type`, request: { method: 'POST', path, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'user_id=0' }, status: [415], code: ['UNSUPPORTED_MEDIA_TYPE'] });
    add({ name: `${p}: application/jsonx content type`, request: { method: 'POST', path, headers: { 'content-type': 'application/jsonx' }, body: '{}' }, status: [415], code: ['UNSUPPORTED_MEDIA_TYPE'] });
    add({ name: `${p}: oversized body with Content-Length`, request: json(path, tooBig), status: [413], code: ['PAYLOAD_TOO_LARGE'] });
    add({ name: `${p}: oversized chunked body without Content-Length`, request: { method: 'POST', path, headers: JSON_TYPE, chunks }, status: [413], code: ['PAYLOAD_TOO_LARGE'] });
    add({ name: `${p}: JSON array body`, request: json(path, '[{"user_id": 0}]'), status: [422], code: ['INVALID_REQUEST'] });
    add({ name: `${p}: JSON string body`, request: json(path, '"hello"'), status: [422], code: ['INVALID_REQUEST'] });
    add({ name: `${p}: JSON null body`, request: json(path, 'null'), status: [422], code: ['INVALID_REQUEST'] });
    add({ name: `${p}: JSON number body`, request: json(path, '42'), status: [422], code: ['INVALID_REQUEST'] });
    add({ name: `${p}: deeply nested top-level array`, request: json(path, deep(DEPTH)), status: [422, 400], code: ['INVALID_REQUEST', 'INVALID_JSON'] });
    add({ name: `${p}: invalid UTF-8 bytes between tokens`, request: json(path, new Uint8Array([0x7b, 0xff, 0xfe, 0xc3, 0x28, 0x7d])), status: [400], code: ['INVALID_JSON'] });
    // Inside a string, invalid UTF-8 may be replaced by U+FFFD (lenient decoding) or refused.
    add({ name: `${p}: invalid UTF-8 bytes inside a key`, request: json(path, new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d])), status: [422, 400], code: ['INVALID_REQUEST', 'INVALID_JSON'] });
    add({ name: `${p}: NUL bytes and control characters`, request: json(path, '\u0000\u0001{"user_id":0}'), status: [400], code: ['INVALID_JSON'] });
    add({ name: `${p}: GET on a POST route`, request: { method: 'GET', path }, ...WRONG_METHOD });
  }

  // ---- realtime predict ----
  for (const path of PREDICT_PATHS) {
    const p = `POST ${path}`;
    const { mean_radius: _drop, ...noRadius } = rec0;
    const { worst_area: _drop2, ...noWorstArea } = bcRecords[1]!;
    add({ name: `${p}: nothing to score ({})`, request: obj(path, {}), status: [422], code: ['INVALID_REQUEST'] });
    add({ name: `${p}: unknown version`, request: obj(path, { user_id: 0, version: '99' }), status: [404], code: ['MODEL_NOT_FOUND'] });
    add({ name: `${p}: empty version string`, request: obj(path, { user_id: 0, version: '' }), status: [422], code: ['INVALID_REQUEST'] });
    add({ name: `${p}: missing feature`, request: obj(path, { features: noRadius }), status: [422], code: ['MISSING_FEATURE'], detailsFeature: 'mean_radius' });
    add({ name: `${p}: missing feature in an instance`, request: obj(path, { instances: [rec0, noWorstArea] }), status: [422], code: ['MISSING_FEATURE'], detailsFeature: 'worst_area' });
    add({ name: `${p}: mistyped feature (string)`, request: obj(path, { features: { ...rec0, mean_texture: 'abc' } }), status: [422], code: ['INVALID_FEATURE_TYPE'], detailsFeature: 'mean_texture' });
    add({ name: `${p}: mistyped feature (object)`, request: obj(path, { features: { ...rec0, mean_texture: { v: 1 } } }), status: [422], code: ['INVALID_FEATURE_TYPE'], detailsFeature: 'mean_texture' });
    add({ name: `${p}: mistyped context value (array)`, request: obj(path, { user_id: 0, context: { mean_texture: [1, 2] } }), status: [422], code: ['INVALID_REQUEST'] });
    add({ name: `${p}: NaN as the string "NaN"`, request: obj(path, { features: { ...rec0, mean_area: 'NaN' } }), status: [422], code: ['INVALID_FEATURE_VALUE', 'INVALID_FEATURE_TYPE'], detailsFeature: 'mean_area' });
    add({ name: `${p}: 1e999 (Infinity)`, request: json(path, JSON.stringify({ features: rec0 }).replace(/"mean_area":[^,]+/, '"mean_area":1e999')), status: [422], code: ['INVALID_FEATURE_VALUE'], detailsFeature: 'mean_area' });
    add({ name: `${p}: -1e999 in context`, request: json(path, '{"user_id":0,"context":{"worst_area":-1e999}}'), status: [422], code: ['INVALID_FEATURE_VALUE'], detailsFeature: 'worst_area' });
    add({ name: `${p}: instances over server.maxRecords`, request: obj(path, { instances: Array.from({ length: CORPUS_LIMITS.maxRecords + 1 }, (_, i) => bcRecords[i % bcRecords.length]) }), status: [413], code: ['BATCH_TOO_LARGE'] });
    add({ name: `${p}: empty instances`, request: obj(path, { instances: [] }), status: [422], code: ['INVALID_REQUEST', 'EMPTY_BATCH'] });
    add({ name: `${p}: instances not objects`, request: obj(path, { instances: [1, 2] }), status: [422], code: ['INVALID_REQUEST'] });
    add({ name: `${p}: unknown user id`, request: obj(path, { user_id: 'no-such-user' }), status: [404], code: ['ENTITY_NOT_FOUND'] });
    add({ name: `${p}: known user, unknown item`, request: obj(path, { user_id: 0, item_id: 424242 }), status: [404], code: ['ENTITY_NOT_FOUND'] });
    add({ name: `${p}: user_id of the wrong type`, request: obj(path, { user_id: { id: 1 } }), status: [422], code: ['INVALID_REQUEST'] });
    add({ name: `${p}: user_id too long`, request: obj(path, { user_id: 'u'.repeat(300) }), status: [422], code: ['INVALID_REQUEST'] });
    add({ name: `${p}: user_id a fraction`, request: obj(path, { user_id: 1.5 }), status: [422], code: ['INVALID_REQUEST'] });
    add({ name: `${p}: unicode garbage user id`, request: obj(path, { user_id: '\u0000\ud800\udfff\u202e💩\uffff' }), status: [404], code: ['ENTITY_NOT_FOUND'] });
    add({ name: `${p}: unicode garbage feature value`, request: obj(path, { features: { ...rec0, mean_radius: '\ud83d\u0000ﷺ' } }), status: [422], code: ['INVALID_FEATURE_TYPE'], detailsFeature: 'mean_radius' });
    add({ name: `${p}: deeply nested context value`, request: json(path, `{"user_id":0,"context":{"mean_radius":${deep(DEPTH)}}}`), status: [422, 400], code: ['INVALID_REQUEST', 'INVALID_JSON'] });
    add({ name: `${p}: deeply nested feature value`, request: json(path, `{"features":{"mean_radius":${deep(DEPTH)}}}`), status: [422, 400], code: ['INVALID_FEATURE_TYPE', 'INVALID_REQUEST', 'INVALID_JSON'] });
  }
  add({ name: 'POST /v1/models/nope/predict: unknown model', request: obj('/v1/models/nope/predict', { user_id: 0 }), status: [404], code: ['MODEL_NOT_FOUND'] });
  add({ name: 'POST /v1/models/💩/predict: unicode model name', request: obj('/v1/models/%F0%9F%92%A9/predict', { user_id: 0 }), status: [404], code: ['MODEL_NOT_FOUND'] });
  add({ name: 'POST /v1/models/%E0%A4%A/predict: broken percent-encoding', request: obj('/v1/models/%E0%A4%A/predict', { user_id: 0 }), status: [404, 400], code: ['MODEL_NOT_FOUND', 'NOT_FOUND', 'INVALID_REQUEST'] });

  // ---- OIP infer ----
  for (const path of INFER_PATHS) {
    const p = `POST ${path}`;
    const [numeric, buckets] = tensors();
    add({ name: `${p}: missing inputs`, request: obj(path, { id: 'x' }), status: [422], code: ['INVALID_REQUEST'] });
    add({ name: `${p}: empty inputs`, request: obj(path, { inputs: [] }), status: [422], code: ['INVALID_REQUEST'] });
    add({ name: `${p}: inputs not an array`, request: obj(path, { inputs: { numeric } }), status: [422], code: ['INVALID_REQUEST'] });
    add({ name: `${p}: bad datatype`, request: obj(path, { inputs: [{ ...numeric, datatype: 'FP99' }, buckets] }), status: [422], code: ['INVALID_REQUEST'] });
    add({ name: `${p}: lower-case datatype`, request: obj(path, { inputs: [{ ...numeric, datatype: 'fp32' }, buckets] }), status: [422], code: ['INVALID_REQUEST'] });
    add({ name: `${p}: negative shape`, request: obj(path, { inputs: [{ ...numeric, shape: [-2, -13] }, buckets] }), status: [422], code: ['INVALID_REQUEST', 'SHAPE_MISMATCH'] });
    add({ name: `${p}: fractional shape`, request: obj(path, { inputs: [{ ...numeric, shape: [2, 6.5] }, buckets] }), status: [422], code: ['INVALID_REQUEST', 'SHAPE_MISMATCH'] });
    add({ name: `${p}: data length mismatch`, request: obj(path, { inputs: [{ ...numeric, data: numeric.data.slice(0, 25) }, buckets] }), status: [422], code: ['SHAPE_MISMATCH'] });
    add({ name: `${p}: shape does not fit the model`, request: obj(path, { inputs: [{ ...numeric, shape: [2, 12], data: numeric.data.slice(0, 24) }, buckets] }), status: [422], code: ['SHAPE_MISMATCH'] });
    add({ name: `${p}: wrong rank`, request: obj(path, { inputs: [{ ...numeric, shape: [26] }, buckets] }), status: [422], code: ['SHAPE_MISMATCH'] });
    add({ name: `${p}: unknown input`, request: obj(path, { inputs: [numeric, buckets, { name: 'extra', shape: [1], datatype: 'FP32', data: [1] }] }), status: [422], code: ['UNKNOWN_INPUT'], detailsInput: 'extra' });
    add({ name: `${p}: missing input`, request: obj(path, { inputs: [numeric] }), status: [422], code: ['MISSING_INPUT'], detailsInput: 'buckets' });
    add({ name: `${p}: input given twice`, request: obj(path, { inputs: [numeric, numeric, buckets] }), status: [422], code: ['INVALID_REQUEST'] });
    add({ name: `${p}: wrong datatype`, request: obj(path, { inputs: [{ ...numeric, datatype: 'FP64' }, buckets] }), status: [422], code: ['DTYPE_MISMATCH'], detailsInput: 'numeric' });
    add({ name: `${p}: NaN as the string "NaN"`, request: obj(path, { inputs: [{ ...numeric, data: ['NaN', ...numeric.data.slice(1)] }, buckets] }), status: [422], code: ['INVALID_FEATURE_TYPE', 'INVALID_FEATURE_VALUE'] });
    add({ name: `${p}: 1e999 (Infinity)`, request: json(path, JSON.stringify({ inputs: [numeric, buckets] }).replace(/"data":\[[^,]+/, '"data":[1e999')), status: [422], code: ['INVALID_FEATURE_VALUE'] });
    add({ name: `${p}: fractional INT64`, request: obj(path, { inputs: [numeric, { ...buckets, data: [1.5, ...buckets.data.slice(1)] }] }), status: [422], code: ['INVALID_FEATURE_TYPE', 'INVALID_FEATURE_VALUE'] });
    add({ name: `${p}: data not an array`, request: obj(path, { inputs: [{ ...numeric, data: 'abc' }, buckets] }), status: [422], code: ['INVALID_REQUEST'] });
    add({ name: `${p}: unknown output`, request: obj(path, { inputs: [numeric, buckets], outputs: [{ name: 'nope' }] }), status: [422], code: ['INVALID_REQUEST'] });
    add({ name: `${p}: unicode garbage input name`, request: obj(path, { inputs: [numeric, buckets, { name: '\u0000💩\ud800', shape: [1], datatype: 'FP32', data: [1] }] }), status: [422], code: ['UNKNOWN_INPUT'] });
    add({ name: `${p}: deeply nested data`, request: json(path, `{"inputs":[{"name":"numeric","shape":[1,13],"datatype":"FP32","data":${deep(DEPTH)}}]}`), status: [422, 400], code: ['SHAPE_MISMATCH', 'INVALID_REQUEST', 'INVALID_JSON'] });
    add({ name: `${p}: batch over server.maxRecords`, request: obj(path, { inputs: [
      { name: 'numeric', shape: [CORPUS_LIMITS.maxRecords + 1, 13], datatype: 'FP32', data: Array.from({ length: (CORPUS_LIMITS.maxRecords + 1) * 13 }, (_, i) => input.wineNumeric[i % input.wineNumeric.length]) },
      { name: 'buckets', shape: [CORPUS_LIMITS.maxRecords + 1, 3], datatype: 'INT64', data: Array.from({ length: (CORPUS_LIMITS.maxRecords + 1) * 3 }, (_, i) => input.wineBuckets[i % input.wineBuckets.length]) },
    ] }), status: [413], code: ['BATCH_TOO_LARGE'] });
  }
  // ---- OIP binary tensor data extension: JSON header + raw bytes ----
  const binary = (header: unknown, bytes: number, headerLength?: string): RawRequest => {
    const bin = binaryBody(header, [new Uint8Array(bytes)]);
    return { method: 'POST', path: INFER_PATHS[0], headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': headerLength ?? String(bin.headerLength) }, body: bin.body };
  };
  const binInputs = [
    { name: 'numeric', shape: [1, 13], datatype: 'FP32', parameters: { binary_data_size: 52 } },
    { name: 'buckets', shape: [1, 3], datatype: 'INT64', parameters: { binary_data_size: 24 } },
  ];
  const b = `POST ${INFER_PATHS[0]} (binary data)`;
  add({ name: `${b}: header length past the body`, request: binary({ inputs: binInputs }, 76, '100000'), status: [422], code: ['INVALID_REQUEST'] });
  add({ name: `${b}: header length not a number`, request: binary({ inputs: binInputs }, 76, '1e3x'), status: [422], code: ['INVALID_REQUEST'] });
  add({ name: `${b}: header length cuts the JSON`, request: binary({ inputs: binInputs }, 76, '7'), status: [400], code: ['INVALID_JSON'] });
  add({ name: `${b}: fewer bytes than binary_data_size`, request: binary({ inputs: binInputs }, 60), status: [422], code: ['INVALID_REQUEST'] });
  add({ name: `${b}: bytes nobody claims`, request: binary({ inputs: binInputs }, 90), status: [422], code: ['INVALID_REQUEST'] });
  add({ name: `${b}: binary_data_size off the shape`, request: binary({ inputs: [{ ...binInputs[0], parameters: { binary_data_size: 48 } }, binInputs[1]] }, 72), status: [422], code: ['SHAPE_MISMATCH'] });
  add({ name: `${b}: binary_data_size negative`, request: binary({ inputs: [{ ...binInputs[0], parameters: { binary_data_size: -52 } }, binInputs[1]] }, 76), status: [422], code: ['INVALID_REQUEST'] });
  // ---- half precision (breast-cancer-fp16: features [batch, 30] FP16) ----
  const h = 'POST /v2/models/breast-cancer-fp16/infer';
  const hPath = '/v2/models/breast-cancer-fp16/infer';
  const row = Object.values(bcRecords[0]!);
  const fp16 = (data: unknown[]) => obj(hPath, { inputs: [{ name: 'features', shape: [1, 30], datatype: 'FP16', data }] });
  add({ name: `${h}: a value past ±65504`, request: fp16([...row.slice(0, 3), 70_000, ...row.slice(4)]), status: [422], code: ['INVALID_FEATURE_VALUE'] });
  add({ name: `${h}: 1e999 (Infinity)`, request: json(hPath, JSON.stringify({ inputs: [{ name: 'features', shape: [1, 30], datatype: 'FP16', data: row }] }).replace(/"data":\[[^,]+/, '"data":[1e999')), status: [422], code: ['INVALID_FEATURE_VALUE'] });
  add({ name: `${h}: FP32 for an FP16 input`, request: obj(hPath, { inputs: [{ name: 'features', shape: [1, 30], datatype: 'FP32', data: row }] }), status: [422], code: ['DTYPE_MISMATCH'], detailsInput: 'features' });
  add({ name: `${h}: BF16 (not a datatype omniserve feeds)`, request: obj(hPath, { inputs: [{ name: 'features', shape: [1, 30], datatype: 'BF16', data: row }] }), status: [422], code: ['INVALID_REQUEST'] });
  {
    const bits = new Uint16Array(30).fill(0x3c00);
    bits[17] = 0x7e00; // NaN
    const bin = binaryBody({ inputs: [{ name: 'features', shape: [1, 30], datatype: 'FP16', parameters: { binary_data_size: 60 } }] }, [bits]);
    add({ name: `${h} (binary data): a NaN bit pattern`, request: { method: 'POST', path: hPath, headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(bin.headerLength) }, body: bin.body }, status: [422], code: ['INVALID_FEATURE_VALUE'] });
    const odd = binaryBody({ inputs: [{ name: 'features', shape: [1, 30], datatype: 'FP16', parameters: { binary_data_size: 59 } }] }, [new Uint8Array(59)]);
    add({ name: `${h} (binary data): an odd byte count`, request: { method: 'POST', path: hPath, headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(odd.headerLength) }, body: odd.body }, status: [422], code: ['SHAPE_MISMATCH'] });
  }
  add({ name: 'POST /v1/models/breast-cancer-fp16/predict: a feature past ±65504', request: obj('/v1/models/breast-cancer-fp16/predict', { features: { ...bcRecords[0], worst_area: 1e6 } }), status: [422], code: ['INVALID_FEATURE_VALUE'], detailsFeature: 'worst_area' });
  add({ name: 'POST /v2/models/nope/infer: unknown model', request: obj('/v2/models/nope/infer', goodInfer), status: [404], code: ['MODEL_NOT_FOUND'] });
  add({ name: 'POST /v2/models/wine-mixed/versions/99/infer: unknown version', request: obj('/v2/models/wine-mixed/versions/99/infer', goodInfer), status: [404], code: ['MODEL_NOT_FOUND'] });
  add({ name: 'POST /v2/models/💩/infer: unicode model name', request: obj('/v2/models/%F0%9F%92%A9/infer', goodInfer), status: [404], code: ['MODEL_NOT_FOUND'] });

  // ---- GET endpoints: wrong methods, unknown models and versions ----
  for (const path of GET_PATHS) {
    add({ name: `DELETE ${path}: wrong method`, request: { method: 'DELETE', path }, ...WRONG_METHOD });
    add({ name: `PUT ${path}: wrong method with a JSON body`, request: obj(path, { user_id: 0 }, 'PUT'), ...WRONG_METHOD });
  }
  for (const path of ['/v2/models/nope', '/v2/models/nope/ready', '/v2/models/wine-mixed/versions/99', '/v2/models/wine-mixed/versions/99/ready', '/v2/models/%F0%9F%92%A9', '/v2/models/%E0%A4%A/ready']) {
    add({ name: `GET ${path}: unknown model or version`, request: { method: 'GET', path }, status: [404], code: ['MODEL_NOT_FOUND'] });
  }

  // ---- unknown routes ----
  for (const [method, path] of [
    ['GET', '/'], ['GET', '/nope'], ['POST', '/nope'], ['GET', '/v1/models/breast-cancer'], ['POST', '/v2/models'],
    ['GET', '/v2/models/wine-mixed/infer'], ['POST', '/v2/models/wine-mixed/versions/1/infer/extra'], ['GET', '/%F0%9F%92%A9'],
    ['GET', '/predict/../../etc/passwd'], ['PATCH', '/predict'],
  ] as const) {
    add({ name: `${method} ${path}: unknown route`, request: method === 'GET' ? { method, path } : obj(path, { user_id: 0 }, method), status: [404, 405], code: ['NOT_FOUND', 'METHOD_NOT_ALLOWED'] });
  }
  return cases;
}
