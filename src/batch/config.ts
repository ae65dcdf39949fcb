/**
 * The `batch` section of a batch job's config file: which model, how many rows per
 * inference call, how many workers, what validation does. Kept apart from the server
 * config on purpose: a batch job runs once and exits, and shares none of the server's knobs.
 * @module
 */
import * as v from 'valibot';
import { Errors } from '../errors.ts';
import { formatIssues } from '../core/model-config.ts';

/** What a batch job needs. Paths are as the host resolves them (relative: to the config file). */
export const BatchConfigSchema = v.strictObject({
  model: v.strictObject({
    /** The .onnx file. */
    path: v.pipe(v.string(), v.minLength(1)),
    /** Model config file; default `<model>.config.json` beside the model. */
    config: v.optional(v.pipe(v.string(), v.minLength(1))),
    /** Backend request (`cpu`, `auto`, ...); default auto. */
    backend: v.optional(v.string()),
  }),
  /**
   * Rows per inference call inside a unit. Small enough that the tensor and a model's
   * intermediate activations stay in cache: on one onnxruntime thread, 4,096 rows ran MLPs
   * of 30-64-64-1 to 30-256-256-1 1.2-1.6x as fast as 65,536 did, with less memory.
   */
  batchSize: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1_048_576)), 4_096),
  /** Scoring workers; 0: score in the main thread. Default: one per core. */
  workers: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(256))),
  /**
   * `fail`: a NaN/infinite prediction or a probability outside [0,1] fails its unit.
   * `warn`: the unit is written and the report goes to its manifest entry and the log.
   * `off`: write what the model gave (for models whose outputs are not probabilities).
   */
  validation: v.optional(v.picklist(['fail', 'warn', 'off']), 'fail'),
  /** Rows per work unit at most; a larger row group is split. */
  unitRows: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 1_048_576),
  /** Output compression (UNCOMPRESSED is faster to write, SNAPPY smaller). */
  compression: v.optional(v.picklist(['SNAPPY', 'UNCOMPRESSED']), 'SNAPPY'),
  /**
   * Columns looked up in the feature store by a key column, in bulk (one `getMany` per
   * `chunk` distinct keys of a unit), added to the rows before scoring (and written out).
   */
  enrich: v.optional(v.strictObject({
    store: v.variant('kind', [
      v.strictObject({ kind: v.literal('redis'), url: v.pipe(v.string(), v.minLength(1)), keyPrefix: v.optional(v.string()) }),
      /** A JSON, JSON lines, CSV or Parquet file of entities, loaded by each worker. */
      v.strictObject({ kind: v.literal('memory'), path: v.pipe(v.string(), v.minLength(1)), keyColumn: v.optional(v.string(), 'id'), prefix: v.optional(v.string(), 'user') }),
    ]),
    /** The input column holding the entity id. */
    keyColumn: v.pipe(v.string(), v.minLength(1)),
    /** Store key = `<prefix>:<id>` (the serving path's convention: `user:42`). */
    prefix: v.optional(v.string(), 'user'),
    /** Hash fields to add as numeric (double) columns; a missing entity or field is null. */
    fields: v.pipe(v.array(v.pipe(v.string(), v.minLength(1))), v.minLength(1)),
    /** Distinct keys per store call. */
    chunk: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(100_000)), 2_000),
  })),
});

/** The `enrich` section. */
export type EnrichSpec = NonNullable<BatchConfig['enrich']>;

export type BatchConfig = v.InferOutput<typeof BatchConfigSchema>;

/** Parses `{ batch: {...} }` (or the bare section); INVALID_CONFIG names every bad field by path. */
export function parseBatchConfig(input: unknown, where = 'batch config'): BatchConfig {
  const wrapped = input !== null && typeof input === 'object' && 'batch' in input;
  const section = wrapped ? (input as { batch: unknown }).batch : input;
  const r = v.safeParse(BatchConfigSchema, section);
  if (r.success) return r.output;
  const issues = formatIssues(r.issues, wrapped ? 'batch' : '');
  throw Errors.INVALID_CONFIG(`${where}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, { issues });
}
