/**
 * The OpenAPI 3.1 description of the HTTP API and a self-contained reference page (no CDN:
 * edge and offline users must be able to read it).
 * @module
 */
import { OIP_DATATYPES } from './routes/oip.ts';

const json = (schema: object) => ({ content: { 'application/json': { schema } } });
const err = { $ref: '#/components/schemas/Error' };
const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [String(c), { description: 'error', ...json(err) }]));

const predictBody = {
  type: 'object',
  properties: {
    user_id: { type: ['string', 'integer'], description: 'features from the `user:{id}` hash' },
    item_id: { type: ['string', 'integer'], description: 'features from the `item:{id}` hash' },
    context: { type: 'object', additionalProperties: { type: ['number', 'string', 'boolean', 'null'] } },
    features: { type: 'object', description: 'direct features (win over store and context)' },
    instances: { type: 'array', items: { type: 'object' }, description: 'a batch of direct feature records' },
    version: { type: 'string' },
  },
};
const prediction = {
  type: 'object',
  properties: {
    prediction: { type: ['number', 'null'] }, probability: { type: ['number', 'null'] }, label: { type: 'string' },
    model: { type: 'string' }, model_version: { type: 'string' }, latency_ms: { type: 'number' },
    features_used: { type: 'array', items: { type: 'string' } }, cached: { type: 'boolean' },
  },
};
const tensor = {
  type: 'object', required: ['name', 'shape', 'datatype', 'data'],
  properties: {
    name: { type: 'string' }, shape: { type: 'array', items: { type: 'integer' } },
    datatype: { enum: [...OIP_DATATYPES] }, data: { type: 'array' },
  },
};

const asyncBody = {
  ...predictBody,
  properties: {
    ...predictBody.properties,
    callback_url: { type: 'string', format: 'uri', description: 'http(s) URL told when the job is final (signed webhook)' },
  },
};
const jobStatus = {
  type: 'object', required: ['request_id', 'status'],
  properties: {
    request_id: { type: 'string' },
    status: { enum: ['pending', 'processing', 'completed', 'failed'] },
    model: { type: 'string' }, version: { type: 'string' }, attempts: { type: 'integer' },
    created_at: { type: 'string', format: 'date-time' }, updated_at: { type: 'string', format: 'date-time' },
    result: { type: 'object', description: 'when completed: the realtime answer (or `predictions` for instances)' },
    error: { type: 'object', description: 'when failed: `{error, code}`', properties: { error: { type: 'string' }, code: { type: 'string' } } },
    webhook: {
      type: 'object', description: 'with a callback_url, once the job is final: the signed delivery of this status',
      properties: {
        status: { enum: ['pending', 'delivered', 'failed'] }, attempts: { type: 'integer' },
        last_error: { type: 'string' }, last_status: { type: 'integer' },
        next_attempt_at: { type: 'string', format: 'date-time' }, delivered_at: { type: 'string', format: 'date-time' },
      },
    },
  },
};

function asyncPaths() {
  const submit = {
    summary: 'Submit an async prediction job (Idempotency-Key header: a repeat returns the same request_id)',
    requestBody: { required: true, ...json(asyncBody) },
    responses: {
      202: { description: 'stored', ...json({ type: 'object', properties: { request_id: { type: 'string' }, status: { const: 'pending' } } }) },
      ...errors(400, 404, 413, 415, 422, 503),
    },
  };
  return {
    '/predict/async': { post: submit },
    '/v1/models/{name}/predict/async': { post: { ...submit, summary: 'Submit an async prediction job for a named model' } },
    '/predict/{request_id}': { get: { summary: 'Status and result of an async job', responses: { 200: { description: 'the job', ...json(jobStatus) }, ...errors(404) } } },
  };
}

/** The OpenAPI document (admin and async routes only when they are served). */
export function openApiSpec(version: string, opts: { admin?: boolean; async?: boolean } = {}) {
  const predict = {
    summary: 'Realtime prediction (seed-compatible)',
    requestBody: { required: true, ...json(predictBody) },
    responses: { 200: { description: 'prediction', ...json(prediction) }, ...errors(400, 404, 413, 415, 422, 503, 504) },
  };
  const infer = {
    summary: 'Open Inference Protocol v2 inference',
    description: 'Binary tensor data extension (as Triton): send the JSON request, then the raw little-endian tensors of the inputs ' +
      'that give parameters.binary_data_size instead of data, with header Inference-Header-Content-Length = the JSON part\'s bytes. ' +
      'parameters.binary_data_output (or outputs[].parameters.binary_data) answers outputs the same way (application/octet-stream).',
    requestBody: { required: true, ...json({ type: 'object', required: ['inputs'], properties: { id: { type: 'string' }, inputs: { type: 'array', items: tensor }, outputs: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' } } } } } }) },
    responses: { 200: { description: 'outputs', ...json({ type: 'object', properties: { model_name: { type: 'string' }, model_version: { type: 'string' }, id: { type: 'string' }, outputs: { type: 'array', items: tensor } } }) }, ...errors(400, 404, 413, 415, 422) },
  };
  const get = (summary: string) => ({ get: { summary, responses: { 200: { description: 'ok' }, ...errors(404) } } });
  return {
    openapi: '3.1.0',
    info: { title: 'omniserve', version, description: 'Serve ONNX models: realtime, Open Inference Protocol v2, health and metrics.' },
    paths: {
      '/predict': { post: predict },
      '/v1/models/{name}/predict': { post: { ...predict, summary: 'Realtime prediction on a named model' } },
      '/v1/models': get('Loaded models and versions'),
      '/v2': get('OIP server metadata'),
      '/v2/health/live': get('OIP liveness'),
      '/v2/health/ready': get('OIP readiness (503 while draining)'),
      '/v2/models/{name}': get('OIP model metadata'),
      '/v2/models/{name}/versions/{version}': get('OIP model version metadata'),
      '/v2/models/{name}/ready': get('OIP model readiness'),
      '/v2/models/{name}/versions/{version}/ready': get('OIP model version readiness'),
      '/v2/models/{name}/infer': { post: infer },
      '/v2/models/{name}/versions/{version}/infer': { post: infer },
      '/health': get('Health: models, feature store, draining'),
      '/metrics': get('Prometheus metrics (text format 0.0.4)'),
      '/openapi.json': get('This document'),
      '/docs': get('This API reference as an HTML page'),
      ...(opts.admin ? adminPaths() : {}),
      ...(opts.async ? asyncPaths() : {}),
    },
    components: {
      schemas: {
        Error: { type: 'object', required: ['error', 'code'], properties: { error: { type: 'string' }, code: { type: 'string' }, details: { type: 'object' } } },
      },
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    },
  };
}

function adminPaths() {
  const ok = (summary: string, body?: object) => ({
    summary,
    ...(body ? { requestBody: { required: true, ...json(body) } } : {}),
    responses: { 200: { description: 'ok' }, ...errors(400, 401, 404, 422, 501) },
  });
  return {
    '/admin/models': { post: ok('Load or reload a model version', { type: 'object', required: ['source'], properties: { source: { type: 'string' }, name: { type: 'string' }, version: { type: 'string' }, default: { type: 'boolean' }, config: { type: 'object' }, backend: { type: 'string' } } }) },
    '/admin/models/{name}/default': { put: ok('Make a version the default', { type: 'object', required: ['version'], properties: { version: { type: 'string' } } }) },
    '/admin/models/{name}/versions/{version}': { delete: ok('Unload a version (after its queued and running requests finish)') },
  };
}

const esc = (s: string) => s.replace(/[&<>"]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch]!);

/** A plain HTML reference of the spec: every path, method, summary and request schema. */
export function renderDocsPage(spec: ReturnType<typeof openApiSpec>): string {
  const rows = Object.entries(spec.paths).flatMap(([path, ops]) =>
    Object.entries(ops as Record<string, { summary: string; requestBody?: unknown }>).map(([method, op]) =>
      `<section><h2><code>${method.toUpperCase()} ${esc(path)}</code></h2><p>${esc(op.summary)}</p>${
        op.requestBody ? `<details><summary>request body</summary><pre>${esc(JSON.stringify(op.requestBody, null, 2))}</pre></details>` : ''
      }</section>`));
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>omniserve API</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}h2{font-size:1rem;margin:1.5rem 0 .25rem}code{background:#f3f3f3;padding:.1rem .3rem}pre{background:#f7f7f7;padding:.5rem;overflow:auto}</style>
</head><body><h1>omniserve ${esc(spec.info.version)} API</h1><p>${esc(spec.info.description)} Machine-readable: <a href="/openapi.json">/openapi.json</a>.</p>
<p>Errors are JSON <code>{error, code, details?}</code>.</p>${rows.join('\n')}</body></html>`;
}
