/**
 * Open Inference Protocol v2 (KServe / Triton): server and model metadata, health, and
 * `infer` with typed tensors. Versions are addressable as `/versions/{v}`.
 * @module
 */
import type { Context, Hono } from 'hono';
import * as v from 'valibot';
import { Errors } from '../../errors.ts';
import type { Model } from '../../core/model.ts';
import { tensorBytes, tensorFromBytes, tensorFromNumbers, toPlainArray, type DType, type TensorData, type TensorSpec } from '../../core/tensor.ts';
import { binaryBody } from '../binary-body.ts';
import { parseJson, readBytes, readJson, validate } from '../body.ts';
import type { AppEnv, AppOptions } from '../types.ts';

/** The protocol's datatypes and omniserve's dtypes: every one (BYTES: string tensors, inputs and outputs). */
const TO_OIP: Readonly<Record<DType, string>> = {
  float16: 'FP16', float32: 'FP32', float64: 'FP64',
  int8: 'INT8', int16: 'INT16', int32: 'INT32', int64: 'INT64',
  uint8: 'UINT8', uint16: 'UINT16', uint32: 'UINT32', uint64: 'UINT64',
  bool: 'BOOL', string: 'BYTES',
};
/** Every datatype `infer` takes, for the OpenAPI document. */
export const OIP_DATATYPES: readonly string[] = Object.values(TO_OIP);
const TO_DTYPE: Readonly<Record<string, DType>> = Object.fromEntries(Object.entries(TO_OIP).map(([d, o]) => [o, d as DType]));

const ByteCount = v.pipe(v.number(), v.safeInteger(), v.minValue(0));

const InferBody = v.object({
  id: v.optional(v.string()),
  parameters: v.optional(v.record(v.string(), v.unknown())),
  inputs: v.pipe(v.array(v.object({
    name: v.pipe(v.string(), v.minLength(1)),
    shape: v.array(v.pipe(v.number(), v.safeInteger(), v.minValue(0))),
    datatype: v.picklist(Object.keys(TO_DTYPE) as [string, ...string[]]),
    // Absent when the tensor travels as binary data (parameters.binary_data_size).
    data: v.optional(v.array(v.unknown())),
    parameters: v.optional(v.object({ binary_data_size: v.optional(ByteCount) })),
  })), v.minLength(1, 'inputs must not be empty')),
  outputs: v.optional(v.array(v.object({ name: v.string(), parameters: v.optional(v.object({ binary_data: v.optional(v.boolean()) })) }))),
});

/** The header that marks a request of the binary tensor data extension: the JSON part's length. */
const HEADER_LENGTH = 'inference-header-content-length';

const specView = (s: TensorSpec) => ({
  name: s.name,
  datatype: TO_OIP[s.dtype],
  shape: s.shape.map((d) => (typeof d === 'number' ? d : -1)),
});

/** Adds the OIP v2 routes. */
export function oipRoutes(app: Hono<AppEnv>, o: AppOptions): void {
  const serving = o.serving;
  const limit = o.maxBodyBytes ?? 1 << 20;
  const maxRecords = o.maxRecords ?? 10_000;
  const timeout = o.requestTimeoutMs ?? 10_000;
  const models = serving.engine.models;
  const pick = (c: Context<AppEnv>): Model => {
    const m = models.get(c.req.param('name')!, c.req.param('version'));
    c.set('model', m.name);
    c.set('modelVersion', m.version);
    return m;
  };

  app.get('/v2', (c) => c.json({ name: 'omniserve', version: o.version ?? '0.1.0', extensions: ['model_repository_metadata', 'binary_tensor_data'] }));
  app.get('/v2/health/live', (c) => c.json({ live: true }));
  app.get('/v2/health/ready', (c) => c.json({ ready: serving.ready }, serving.ready ? 200 : 503));

  const metadata = (c: Context<AppEnv>) => {
    const m = pick(c);
    const entry = models.list().find((e) => e.name === m.name)!;
    return c.json({
      name: m.name,
      versions: entry.versions,
      platform: 'onnxruntime_onnx',
      backend: m.backend.id,
      inputs: m.metadata.inputs.map(specView),
      outputs: m.metadata.outputs.map(specView),
    });
  };
  const ready = (c: Context<AppEnv>) => {
    const m = pick(c);
    return c.json({ name: m.name, version: m.version, ready: serving.ready }, serving.ready ? 200 : 503);
  };
  const infer = async (c: Context<AppEnv>) => {
    // The binary tensor data extension (Triton's, which KServe clients speak too): the body
    // is the JSON request, Inference-Header-Content-Length bytes of it, then the raw
    // little-endian tensors of the inputs that name a binary_data_size, in their order.
    const headerLength = c.req.header(HEADER_LENGTH);
    let body: v.InferOutput<typeof InferBody>;
    let binary: Uint8Array | undefined;
    if (headerLength === undefined) {
      body = validate(InferBody, await readJson(c, limit, o.sizedBodyFrom));
    } else {
      const bytes = await readBytes(c, limit, o.sizedBodyFrom);
      const n = Number(headerLength);
      if (headerLength.trim() === '' || !Number.isSafeInteger(n) || n < 0 || n > bytes.byteLength) {
        throw Errors.INVALID_REQUEST(`${HEADER_LENGTH} is ${JSON.stringify(headerLength)}: expected the JSON part's byte count, at most the body's ${bytes.byteLength}`,
          { header: HEADER_LENGTH });
      }
      body = validate(InferBody, parseJson(new TextDecoder().decode(bytes.subarray(0, n))));
      binary = bytes.subarray(n);
    }
    const m = pick(c);
    const rows = body.inputs[0]!.shape[0] ?? 1;
    if (rows > maxRecords) {
      throw Errors.BATCH_TOO_LARGE(`a batch of ${rows} rows is over the limit of ${maxRecords}`, { limit: maxRecords });
    }
    const feeds: Record<string, TensorData> = {};
    let offset = 0;
    for (const input of body.inputs) {
      if (feeds[input.name]) throw Errors.INVALID_REQUEST(`input "${input.name}" is given twice`, { input: input.name });
      const size = input.parameters?.binary_data_size;
      const dtype = TO_DTYPE[input.datatype]!;
      if (size !== undefined) {
        if (input.data !== undefined) {
          throw Errors.INVALID_REQUEST(`input "${input.name}" has both data and binary_data_size`, { input: input.name });
        }
        const left = binary?.byteLength ?? 0;
        if (!binary || offset + size > left) {
          throw Errors.INVALID_REQUEST(`input "${input.name}": binary_data_size ${size} is more than the ${left - offset} bytes of binary data left` +
            (binary ? '' : ` (no ${HEADER_LENGTH} header: the body is JSON only)`), { input: input.name });
        }
        feeds[input.name] = tensorFromBytes(dtype, binary.subarray(offset, offset + size), input.shape, input.name);
        offset += size;
      } else if (input.data !== undefined) {
        feeds[input.name] = tensorFromNumbers(dtype, input.data.flat(Infinity), input.shape, input.name);
      } else {
        throw Errors.INVALID_REQUEST(`input "${input.name}" has neither data nor parameters.binary_data_size`, { input: input.name });
      }
    }
    if (binary && offset !== binary.byteLength) {
      throw Errors.INVALID_REQUEST(`${binary.byteLength - offset} bytes of binary data after the inputs' binary_data_size`, { extra: binary.byteLength - offset });
    }
    const wanted = body.outputs?.map((x) => x.name);
    const known = m.metadata.outputs.map((s) => s.name);
    for (const w of wanted ?? []) {
      if (!known.includes(w)) throw Errors.INVALID_REQUEST(`model ${m.name} has no output "${w}"; its outputs: ${known.join(', ')}`, { output: w });
    }
    if (serving.ready === false) throw Errors.SHUTTING_DOWN('the server is shutting down');
    const out = await serving.infer(m, feeds, Date.now() + timeout);
    const allBinary = body.parameters?.binary_data_output === true;
    const asBinary = (name: string) => body.outputs?.find((x) => x.name === name)?.parameters?.binary_data ?? allBinary;
    const chunks: Uint8Array[] = [];
    const outputs = (wanted ?? known).filter((n) => out[n]).map((name) => {
      const t = out[name]!;
      const head = { name, datatype: TO_OIP[t.dtype] ?? t.dtype, shape: [...t.dims] };
      if (!asBinary(name)) return { ...head, data: toPlainArray(t) };
      const bytes = tensorBytes(t);
      chunks.push(bytes);
      return { ...head, parameters: { binary_data_size: bytes.byteLength } };
    });
    const answer = {
      model_name: m.name,
      model_version: m.version,
      ...(body.id !== undefined ? { id: body.id } : {}),
      outputs,
    };
    if (chunks.length === 0) return c.json(answer);
    const reply = binaryBody(answer, chunks);
    return c.body(reply.body, 200, { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(reply.headerLength) });
  };

  for (const base of ['/v2/models/:name', '/v2/models/:name/versions/:version']) {
    app.get(base, metadata);
    app.get(`${base}/ready`, ready);
    app.post(`${base}/infer`, infer);
  }
}
