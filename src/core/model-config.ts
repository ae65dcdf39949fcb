/**
 * Model config: how named features in a record become input tensors, and how outputs
 * become `prediction`/`probability`. Validated with valibot; every error names the path
 * of the bad field.
 * @module
 */
import * as v from 'valibot';
import { Errors } from '../errors.ts';
import type { DType } from './tensor.ts';

/** A default: a number or boolean for numeric inputs, a string for string inputs (checked when the model loads). */
const FeatureValue = v.union([v.number(), v.boolean(), v.string()]);

/** How one model input is filled from a record. */
export const InputConfigSchema = v.looseObject({
  /** Ordered feature names; the record's values for them fill the last dimension. */
  features: v.optional(v.pipe(v.array(v.pipe(v.string(), v.minLength(1))), v.minLength(1))),
  /** For array inputs (images, sequences): the per-row shape (without the batch dim). */
  shape: v.optional(v.array(v.pipe(v.number(), v.integer(), v.minValue(1)))),
  /** Element type to feed; defaults to what the model declares. */
  dtype: v.optional(v.picklist([
    'float16', 'float32', 'float64', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'bool', 'string',
  ] as const satisfies readonly DType[])),
  /** Value used for any missing feature of this input. Without it, missing is an error. */
  default: v.optional(FeatureValue),
  /** Per-feature defaults (win over `default`). */
  defaults: v.optional(v.record(v.string(), FeatureValue)),
  /** Let NaN/Infinity through (for models that handle them); default: rejected. */
  allowNonFinite: v.optional(v.boolean()),
});

/** Post-processing of one output. */
export const OutputConfigSchema = v.strictObject({
  /**
   * `sigmoid` and `softmax` turn logits into probabilities; `probabilities` takes an output
   * that already holds them (a classifier's probability output: no transform); `argmax`
   * gives the class only.
   */
  postprocess: v.optional(v.picklist(['none', 'sigmoid', 'softmax', 'probabilities', 'argmax']), 'none'),
  /** For sigmoid and a one-column probabilities output: probability ≥ threshold → prediction 1. */
  threshold: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(1)), 0.5),
  /** Class names; `label` is added to results when present. */
  labels: v.optional(v.array(v.string())),
  /** This output gives the row's `prediction`/`probability` (default: the first post-processed one). */
  primary: v.optional(v.boolean()),
});

/** A model's config. Unknown top-level keys are kept as metadata. */
export const ModelConfigSchema = v.looseObject({
  name: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_", "-"'))),
  version: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_", "-"'))),
  description: v.optional(v.string()),
  inputs: v.optional(v.pipe(v.custom<object>((x) => !Array.isArray(x), 'an object keyed by input name'), v.record(v.string(), InputConfigSchema)), {}),
  outputs: v.optional(v.pipe(v.custom<object>((x) => !Array.isArray(x), 'an object keyed by output name'), v.record(v.string(), OutputConfigSchema)), {}),
  /** Largest batch sent to the session in one run; bigger requests are split. */
  maxBatchSize: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 1024),
  /**
   * Runs on zero-filled inputs (batch 1, or the model's fixed batch) when the version loads,
   * before it takes traffic: the first run's one-time costs (memory arenas, kernel choice,
   * GPU shader compilation) are not paid by a request. 0 turns it off.
   */
  warmup: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(100)), 1),
});

export type InputConfig = v.InferOutput<typeof InputConfigSchema>;
export type OutputConfig = v.InferOutput<typeof OutputConfigSchema>;
export type ModelConfig = v.InferOutput<typeof ModelConfigSchema>;
export type ModelConfigInput = v.InferInput<typeof ModelConfigSchema>;

/** Formats valibot issues as `path: message` lines. */
export function formatIssues(issues: readonly v.BaseIssue<unknown>[], root = ''): { path: string; message: string }[] {
  return issues.map((i) => {
    const path = v.getDotPath(i);
    return { path: [root, path].filter(Boolean).join('.') || '(root)', message: i.message };
  });
}

/** Parses a model config or throws INVALID_CONFIG listing each bad field by path. */
export function parseModelConfig(input: unknown, where = 'model config'): ModelConfig {
  const r = v.safeParse(ModelConfigSchema, input ?? {});
  if (r.success) return r.output;
  const issues = formatIssues(r.issues);
  throw Errors.INVALID_CONFIG(`${where}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, { issues });
}
