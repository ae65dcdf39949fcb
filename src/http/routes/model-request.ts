/**
 * The start every prediction route shares: read a JSON object body, validate it, and pick
 * the model version it addresses (route name, else the default model, else the first
 * loaded), recording both for the request metrics.
 * @module
 */
import type { Context } from 'hono';
import * as v from 'valibot';
import { Errors } from '../../errors.ts';
import type { Model } from '../../core/model.ts';
import { readJson, validate } from '../body.ts';
import type { AppEnv, AppOptions } from '../types.ts';

// Numbers first: valibot tries the options in order and builds an issue (message and all)
// for each one that fails, so the common case should be the first option.
const Id = v.union([
  v.pipe(v.number(), v.safeInteger()),
  v.pipe(v.string(), v.minLength(1), v.maxLength(256)),
]);
const Scalar = v.union([v.number(), v.string(), v.boolean(), v.null()]);

/** The seed-compatible prediction request (realtime; async adds `callback_url`). */
export const PredictBody = v.object({
  user_id: v.optional(Id),
  item_id: v.optional(Id),
  context: v.optional(v.record(v.string(), Scalar)),
  features: v.optional(v.record(v.string(), v.unknown())),
  instances: v.optional(v.pipe(v.array(v.record(v.string(), v.unknown())), v.minLength(1, 'instances must not be empty'))),
  version: v.optional(v.pipe(v.string(), v.minLength(1))),
});

/** Reads and validates the body, then resolves the model (MODEL_NOT_FOUND when unknown). */
export async function modelRequest<S extends v.GenericSchema<unknown, { version?: string }>>(
  c: Context<AppEnv>,
  o: AppOptions,
  schema: S,
  name: string | undefined,
): Promise<{ body: v.InferOutput<S>; model: Model }> {
  const json = await readJson(c, o.maxBodyBytes ?? 1 << 20, o.sizedBodyFrom);
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw Errors.INVALID_REQUEST('the body must be a JSON object');
  const body = validate(schema, json);
  const modelName = name ?? o.defaultModel ?? o.serving.engine.models.first();
  if (modelName === undefined) throw Errors.MODEL_NOT_FOUND('no model is loaded');
  c.set('model', modelName);
  const model = o.serving.model(modelName, body.version);
  c.set('modelVersion', model.version);
  return { body, model };
}
