/**
 * Open Inference Protocol v2 (KServe / Triton): server and model metadata, health, and
 * `infer` with typed tensors. Versions are addressable as `/versions/{v}`.
 * @module
 */
import type { Context, Hono } from 'hono';
import * as v from 'valibot';
import { Errors } from '../../errors.ts';
import type { Model } from '../../core/model.ts';
import { tensorFromNumbers, toPlainArray, type DType, type TensorData, type TensorSpec } from '../../core/tensor.ts';
import { readJson, validate } from '../body.ts';
import type { AppEnv, AppOptions } from '../types.ts';

const TO_DTYPE: Readonly<Record<string, DType>> = {
  FP32: 'float32', FP64: 'float64', INT32: 'int32', INT64: 'int64', UINT8: 'uint8', INT8: 'int8', BOOL: 'bool',
};
const TO_OIP: Readonly<Record<DType, string>> = {
  float32: 'FP32', float64: 'FP64', int32: 'INT32', int64: 'INT64', uint8: 'UINT8', int8: 'INT8', bool: 'BOOL',
};

const InferBody = v.object({
  id: v.optional(v.string()),
  parameters: v.optional(v.record(v.string(), v.unknown())),
  inputs: v.pipe(v.array(v.object({
    name: v.pipe(v.string(), v.minLength(1)),
    shape: v.array(v.pipe(v.number(), v.safeInteger(), v.minValue(0))),
    datatype: v.picklist(Object.keys(TO_DTYPE) as [string, ...string[]]),
    data: v.array(v.unknown()),
    parameters: v.optional(v.record(v.string(), v.unknown())),
  })), v.minLength(1, 'inputs must not be empty')),
  outputs: v.optional(v.array(v.object({ name: v.string(), parameters: v.optional(v.record(v.string(), v.unknown())) }))),
});

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
  const models = serving.engine.models;
  const pick = (c: Context<AppEnv>): Model => {
    const m = models.get(c.req.param('name')!, c.req.param('version'));
    c.set('model', m.name);
    c.set('modelVersion', m.version);
    return m;
  };

  app.get('/v2', (c) => c.json({ name: 'omniserve', version: o.version ?? '0.1.0', extensions: ['model_repository_metadata'] }));
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
    const body = validate(InferBody, await readJson(c, limit));
    const m = pick(c);
    const rows = body.inputs[0]!.shape[0] ?? 1;
    if (rows > maxRecords) {
      throw Errors.BATCH_TOO_LARGE(`a batch of ${rows} rows is over the limit of ${maxRecords}`, { limit: maxRecords });
    }
    const feeds: Record<string, TensorData> = {};
    for (const input of body.inputs) {
      if (feeds[input.name]) throw Errors.INVALID_REQUEST(`input "${input.name}" is given twice`, { input: input.name });
      const flat = input.data.flat(Infinity);
      feeds[input.name] = tensorFromNumbers(TO_DTYPE[input.datatype]!, flat, input.shape, input.name);
    }
    const wanted = body.outputs?.map((x) => x.name);
    const known = m.metadata.outputs.map((s) => s.name);
    for (const w of wanted ?? []) {
      if (!known.includes(w)) throw Errors.INVALID_REQUEST(`model ${m.name} has no output "${w}"; its outputs: ${known.join(', ')}`, { output: w });
    }
    if (serving.ready === false) throw Errors.SHUTTING_DOWN('the server is shutting down');
    const out = await serving.infer(m, feeds);
    return c.json({
      model_name: m.name,
      model_version: m.version,
      ...(body.id !== undefined ? { id: body.id } : {}),
      outputs: (wanted ?? known).filter((n) => out[n]).map((name) => ({
        name,
        datatype: TO_OIP[out[name]!.dtype] ?? out[name]!.dtype,
        shape: [...out[name]!.dims],
        data: toPlainArray(out[name]!),
      })),
    });
  };

  for (const base of ['/v2/models/:name', '/v2/models/:name/versions/:version']) {
    app.get(base, metadata);
    app.get(`${base}/ready`, ready);
    app.post(`${base}/infer`, infer);
  }
}
