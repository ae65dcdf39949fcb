/**
 * Seed-compatible realtime routes: `POST /predict` and `POST /v1/models/{name}/predict` with
 * `{user_id, item_id?, context?}` (features from the store) or direct `features`, or a batch
 * of `instances`; `GET /v1/models`.
 * @module
 */
import type { Context, Hono } from 'hono';
import { Errors } from '../../errors.ts';
import { featureSupplied, featureValue, type FeatureRow } from '../../core/features.ts';
import type { Model } from '../../core/model.ts';
import { predictionView as view } from '../../core/postprocess.ts';
import { modelRequest, PredictBody } from './model-request.ts';
import type { AppEnv, AppOptions } from '../types.ts';


// The model's feature names as a JSON array, made once per model: nearly every request uses
// all of them, and re-serialising 30 names per response was a visible share of CPU.
interface AllFeatures {
  readonly names: string[];
  readonly json: string;
  /** The features-mode inputs' names (a row may give one a whole array instead). */
  readonly inputs: string[];
  /**
   * No features-mode input has a default: a row that scored supplied every one of an input's
   * features (the tensor filler refuses a missing one), unless it gave the input a whole array.
   */
  readonly noDefaults: boolean;
}
const allFeatures = new WeakMap<Model, AllFeatures>();

/** The features this record supplied, in model order, as a JSON array. */
function featuresUsedJson(model: Model, rec: FeatureRow): string {
  let all = allFeatures.get(model);
  if (!all) {
    const names = Object.values(model.features).flat();
    const inputs = Object.keys(model.features);
    const noDefaults = inputs.every((k) => {
      const c = model.config.inputs[k];
      return c?.default === undefined && Object.values(c?.defaults ?? {}).every((d) => d === undefined);
    });
    all = { names, json: JSON.stringify(names), inputs, noDefaults };
    allFeatures.set(model, all);
  }
  // Reading 30 names back through the row's layers was ~3 % of a request's CPU on Node.
  if (all.noDefaults && all.inputs.every((k) => featureValue(rec, k) === undefined)) return all.json;
  for (const n of all.names) {
    if (!featureSupplied(rec, n)) return JSON.stringify(all.names.filter((m) => featureSupplied(rec, m)));
  }
  return all.json;
}

/** Adds the realtime routes. */
export function realtimeRoutes(app: Hono<AppEnv>, o: AppOptions): void {
  const serving = o.serving;
  const maxRecords = o.maxRecords ?? 10_000;
  const timeout = o.requestTimeoutMs ?? 10_000;

  const handle = async (c: Context<AppEnv>, name: string | undefined) => {
    const t0 = c.get('t0') ?? performance.now();
    const { body, model } = await modelRequest(c, o, PredictBody, name);
    const deadline = Date.now() + timeout;
    if (body.instances) {
      if (body.instances.length > maxRecords) {
        throw Errors.BATCH_TOO_LARGE(`${body.instances.length} instances is over the limit of ${maxRecords}`, { limit: maxRecords });
      }
      const served = await serving.predict(model, body.instances, deadline, { own: true });
      return c.json({
        predictions: served.map((s) => view(s.result)),
        model: model.name,
        model_version: model.version,
        latency_ms: round(performance.now() - t0),
      });
    }
    if (body.user_id === undefined && body.item_id === undefined && !body.context && !body.features) {
      throw Errors.INVALID_REQUEST('nothing to score: send user_id/item_id, context, features or instances');
    }
    const record = await serving.assemble(body);
    const [served] = await serving.predict(model, [record], deadline);
    // Built property by property: on Node 20 an object spread here cost ~4 µs a request.
    const head = view(served!.result) as Record<string, unknown>;
    head['model'] = model.name;
    head['model_version'] = model.version;
    head['latency_ms'] = round(performance.now() - t0);
    head['cached'] = served!.cached;
    const json = JSON.stringify(head);
    // Same JSON as c.json({..., features_used}) with the cached array spliced in.
    return c.body(`${json.slice(0, -1)},"features_used":${featuresUsedJson(model, record)}}`, 200, {
      'Content-Type': 'application/json',
    });
  };

  app.post('/predict', (c) => handle(c, undefined));
  app.post('/v1/models/:name/predict', (c) => handle(c, c.req.param('name')));
  app.get('/v1/models', (c) => c.json({ models: serving.engine.models.list() }));
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;
