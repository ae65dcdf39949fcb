/**
 * Records → input tensors. Each model input gets a plan at load time (which features, which
 * per-row shape, which dtype), so the per-request work is one tight loop per input that
 * fills a typed array and names the row and feature of anything wrong.
 * @module
 */
import { Errors } from '../errors.ts';
import type { InputConfig, ModelConfig } from './model-config.ts';
import { allocate, describe, firstNonFinite, floatProblem, integerProblem, isBigDType, isFloatDType, isStaticDim, sizeOf, toHalf, type DType, type TensorArray, type TensorData, type TensorSpec } from './tensor.ts';

/** One row of input: named features and/or arrays keyed by input name. */
export type FeatureRecord = Readonly<Record<string, unknown>>;

/**
 * One row read through several records, later ones winning: the user hash, the item hash,
 * the request's context, its direct features. Serving assembles rows this way instead of
 * copying every field into one object: on Node 20 that copy (30 keyed stores, which turn
 * the object into a dictionary past 12) cost ~4 µs a request, more than reading the 30
 * features through the layers (a microbenchmark of the realtime bench's hashes).
 */
export class LayeredRecord {
  constructor(readonly layers: readonly FeatureRecord[]) {}

  /** The value of `name` in the last layer that has it (`undefined` when none has). */
  get(name: string): unknown {
    const ls = this.layers;
    for (let i = ls.length - 1; i >= 0; i--) {
      const v = ls[i]![name];
      if (v !== undefined) return v;
    }
    return undefined;
  }

  /** The layers merged into one plain record: for a cache key, a worker thread, a JSON body. */
  merged(): FeatureRecord {
    const out: Record<string, unknown> = {};
    for (const l of this.layers) for (const k in l) out[k] = l[k];
    return out;
  }
}

/** What the tensor filler takes per row. */
export type FeatureRow = FeatureRecord | LayeredRecord;

/** `row` as one plain record (a layered row merged). */
export const plainRecord = (row: FeatureRow): FeatureRecord => (row instanceof LayeredRecord ? row.merged() : row);

/** The value of feature `name` in `row`. */
export const featureValue = (row: FeatureRow, name: string): unknown => (row instanceof LayeredRecord ? row.get(name) : row[name]);

/** True when `row` gives feature `name` a value (undefined and null count as missing, as in the tensor filler). */
export function featureSupplied(row: FeatureRow, name: string): boolean {
  const v = featureValue(row, name);
  return v !== undefined && v !== null;
}

/** How one input is filled; made once per model. */
export interface InputPlan {
  readonly name: string;
  readonly dtype: DType;
  /** Dims after the batch dim (empty for a `[batch]` input: one scalar per row). */
  readonly rowShape: readonly number[];
  readonly rowSize: number;
  /** Inner dims are dynamic and no config fixes them: only tensors can feed this input. */
  readonly dynamic?: boolean;
  /** Ordered feature names (features mode), or undefined (array mode: `record[name]`). */
  readonly features?: readonly string[];
  /** Per feature: a number (numeric inputs), a string (string inputs), or undefined (required). */
  readonly defaults?: readonly (number | string | undefined)[];
  readonly allowNonFinite: boolean;
}

/** Builds the plan of every model input; config mistakes are INVALID_CONFIG at load time. */
export function planInputs(specs: readonly TensorSpec[], config: ModelConfig): InputPlan[] {
  const names = new Set(specs.map((s) => s.name));
  for (const key of Object.keys(config.inputs)) {
    if (!names.has(key)) {
      throw Errors.INVALID_CONFIG(`inputs.${key}: the model has no input "${key}"; its inputs: ${[...names].join(', ')}`,
        { path: `inputs.${key}`, inputs: [...names] });
    }
  }
  return specs.map((spec) => planInput(spec, config.inputs[spec.name]));
}

function planInput(spec: TensorSpec, cfg: InputConfig | undefined): InputPlan {
  const dtype = (cfg?.dtype as DType | undefined) ?? spec.dtype;
  const modelRow = spec.shape.slice(1);
  const path = `inputs.${spec.name}`;
  if (cfg?.features) {
    const n = cfg.features.length;
    const last = modelRow[modelRow.length - 1];
    if (modelRow.length !== 1 || (isStaticDim(last) && last !== n)) {
      throw Errors.INVALID_CONFIG(`${path}.features: ${n} features do not fit the model's input shape [${spec.shape.join(',')}]`,
        { path: `${path}.features`, shape: spec.shape });
    }
    const defaults = cfg.features.map((f) => toDefault(cfg.defaults?.[f] ?? cfg.default));
    defaults.forEach((d, j) => {
      // A default is stored as it is, unchecked per row: one the input cannot hold is a config mistake.
      const problem = d === undefined ? undefined
        : dtype === 'string' ? (typeof d === 'string' ? undefined : 'a string input takes string defaults')
        : typeof d === 'string' ? `a ${dtype} input takes number defaults`
        : integerProblem(d, dtype) ?? floatProblem(d, dtype);
      if (problem) {
        const at = cfg.defaults?.[cfg.features![j]!] !== undefined ? `${path}.defaults.${cfg.features![j]}` : `${path}.default`;
        throw Errors.INVALID_CONFIG(`${at}: ${d} is not a ${dtype} value (${problem})`, { path: at });
      }
    });
    return { name: spec.name, dtype, rowShape: [n], rowSize: n, features: cfg.features, defaults, allowNonFinite: cfg.allowNonFinite ?? false };
  }
  let rowShape: number[];
  if (cfg?.shape) {
    rowShape = cfg.shape;
    const fits = modelRow.length === rowShape.length && modelRow.every((d, i) => !isStaticDim(d) || d === rowShape[i]);
    if (!fits) {
      throw Errors.INVALID_CONFIG(`${path}.shape: [${rowShape.join(',')}] does not fit the model's input shape [${spec.shape.join(',')}]`,
        { path: `${path}.shape`, shape: spec.shape });
    }
  } else if (modelRow.every(isStaticDim)) {
    rowShape = modelRow as number[];
  } else {
    return { name: spec.name, dtype, rowShape: [], rowSize: 0, dynamic: true, allowNonFinite: cfg?.allowNonFinite ?? false };
  }
  return { name: spec.name, dtype, rowShape, rowSize: sizeOf(rowShape), allowNonFinite: cfg?.allowNonFinite ?? false };
}

function toDefault(v: number | boolean | string | undefined): number | string | undefined {
  return typeof v === 'boolean' ? (v ? 1 : 0) : v;
}

/** Fills one input tensor from `records[start, end)`, padded with zero rows up to `batch`. */
export function fillInput(plan: InputPlan, records: readonly FeatureRow[], start: number, end: number, batch = end - start): TensorData {
  if (plan.dynamic) {
    throw Errors.INVALID_REQUEST(`input "${plan.name}" has dynamic inner dimensions: set inputs.${plan.name}.shape in the model config, or send tensors`,
      { input: plan.name });
  }
  if (plan.dtype === 'string') return fillStrings(plan, records, start, end, batch);
  const data = allocate(plan.dtype, batch * plan.rowSize);
  const big = isBigDType(plan.dtype);
  const half = plan.dtype === 'float16';
  const integral = !isFloatDType(plan.dtype);
  eachRow(plan, records, start, end, (rec, layered, off, r) => {
    const feats = plan.features!;
    for (let j = 0; j < feats.length; j++) {
      const f = feats[j]!;
      const x = coerce(layered ? layered.get(f) : rec[f], plan.defaults![j] as number | undefined, r, f, plan, integral);
      if (big) (data as BigInt64Array)[off + j] = BigInt(x);
      else data[off + j] = half ? toHalf(x) : x;
    }
  }, (direct, off, r) => fillArray(direct, data, off, plan, r, integral));
  return { dtype: plan.dtype, data, dims: [batch, ...plan.rowShape] };
}

/**
 * Walks `records[start, end)` for one input: each row (a plain record, checked, or layers)
 * goes to `byFeatures` when the input is filled from named features and the row did not
 * give the whole input as an array (or typed row), else its value under the input's name
 * goes to `byArray` (MISSING_FEATURE when it has none). `off` is the row's first element.
 */
function eachRow(
  plan: InputPlan, records: readonly FeatureRow[], start: number, end: number,
  byFeatures: (rec: FeatureRecord, layered: LayeredRecord | undefined, off: number, r: number) => void,
  byArray: (direct: unknown, off: number, r: number) => void,
): void {
  for (let r = start; r < end; r++) {
    const row = records[r];
    const layered = row instanceof LayeredRecord ? row : undefined;
    const rec = row as FeatureRecord;
    if (!layered) checkRecord(rec, r);
    const off = (r - start) * plan.rowSize;
    const direct = layered ? layered.get(plan.name) : rec[plan.name];
    if (plan.features && !Array.isArray(direct) && !isTypedRow(direct)) byFeatures(rec, layered, off, r);
    else if (direct === undefined) throw missingInput(plan, r);
    else byArray(direct, off, r);
  }
}

/** A plain row must be an object of features. */
function checkRecord(rec: FeatureRecord, r: number): void {
  if (rec === null || typeof rec !== 'object' || Array.isArray(rec)) {
    throw Errors.INVALID_REQUEST(`row ${r}: expected an object of features, got ${describe(rec)}`, { row: r });
  }
}

function missingInput(plan: InputPlan, r: number): Error {
  return Errors.MISSING_FEATURE(`row ${r}: missing "${plan.name}"${plan.features ? ` (or its features ${plan.features.slice(0, 3).join(', ')}…)` : ''}`,
    { row: r, feature: plan.name, input: plan.name });
}

/**
 * A string input (categorical features): strings as they are, finite numbers as the text
 * JavaScript writes for them (what a store that parsed "42" into 42 held), padded with ''.
 */
function fillStrings(plan: InputPlan, records: readonly FeatureRow[], start: number, end: number, batch: number): TensorData {
  const data = new Array<string>(batch * plan.rowSize).fill('');
  eachRow(plan, records, start, end, (rec, layered, off, r) => {
    const feats = plan.features!;
    for (let j = 0; j < feats.length; j++) {
      const f = feats[j]!;
      data[off + j] = text(layered ? layered.get(f) : rec[f], plan.defaults![j] as string | undefined, r, f, plan);
    }
  }, (direct, off, r) => {
    const flat = flatRow(direct, plan, r, 'strings');
    for (let j = 0; j < flat.length; j++) data[off + j] = text(flat[j], undefined, r, `${plan.name}[${j}]`, plan);
  });
  return { dtype: 'string', data, dims: [batch, ...plan.rowShape] };
}

function text(x: unknown, dflt: string | undefined, row: number, feature: string, plan: InputPlan): string {
  if (typeof x === 'string') return x;
  if (typeof x === 'number' && Number.isFinite(x)) return String(x);
  if (x === undefined || x === null) {
    if (dflt === undefined) throw Errors.MISSING_FEATURE(`row ${row}: missing feature "${feature}"`, { row, feature, input: plan.name });
    return dflt;
  }
  throw Errors.INVALID_FEATURE_TYPE(`row ${row}: feature "${feature}" is ${describe(x)}; expected a string`, { row, feature, input: plan.name });
}

function coerce(x: unknown, dflt: number | undefined, row: number, feature: string, plan: InputPlan, integral: boolean): number {
  let n: number;
  if (typeof x === 'number') n = x;
  else if (x === undefined || x === null) {
    if (dflt === undefined) {
      throw Errors.MISSING_FEATURE(`row ${row}: missing feature "${feature}"`, { row, feature, input: plan.name });
    }
    return dflt;
  } else if (typeof x === 'boolean') n = x ? 1 : 0;
  else if (typeof x === 'string') {
    // Strings (Redis and Upstash hashes, CSV): one Number() each; only its two ambiguous
    // answers look again, 0 (also what a blank string gives) and NaN (also "NaN" itself).
    n = Number(x);
    if (n === n ? n === 0 && x.trim() === '' : x.trim() !== 'NaN') throw notANumber(x, row, feature, plan);
  } else throw notANumber(x, row, feature, plan);
  if (!plan.allowNonFinite && !Number.isFinite(n)) {
    throw Errors.INVALID_FEATURE_VALUE(`row ${row}: feature "${feature}" is ${n}; values must be finite`, { row, feature, input: plan.name });
  }
  if (integral) {
    const problem = integerProblem(n, plan.dtype);
    if (problem) {
      const err = Number.isInteger(n) ? Errors.INVALID_FEATURE_VALUE : Errors.INVALID_FEATURE_TYPE;
      throw err(`row ${row}: feature "${feature}" is ${n}; ${problem}`, { row, feature, input: plan.name });
    }
  } else if (plan.dtype === 'float16' && Number.isFinite(n)) {
    // A finite value past ±65504 would become infinity: refused as integers out of range are.
    const problem = floatProblem(n, plan.dtype);
    if (problem) throw Errors.INVALID_FEATURE_VALUE(`row ${row}: feature "${feature}" is ${n}; ${problem}`, { row, feature, input: plan.name });
  }
  return n;
}

function notANumber(x: unknown, row: number, feature: string, plan: InputPlan): Error {
  return Errors.INVALID_FEATURE_TYPE(`row ${row}: feature "${feature}" is ${describe(x)}; expected a number`,
    { row, feature, input: plan.name });
}

/** A typed array (not a DataView): a row already packed, or handed over as one. */
function isTypedRow(v: unknown): v is TensorArray {
  return ArrayBuffer.isView(v) && !(v instanceof DataView);
}

/**
 * Replaces, in place, each plain record's JSON array for a float input (`{"x": [1024
 * numbers]}`) by a typed row of the input's dtype, checked as the batch-time filler checks
 * it (same named errors, rows numbered within `records`). Serving calls this on a request's
 * freshly parsed rows before they queue: the batch then copies each row with one `set`,
 * and the parsed arrays die young instead of surviving, with their boxed numbers, while
 * other requests run (a 64-row heavy request held ~0.5 MB of them; on Node 20 the
 * scavenges that promoted them took ~4.5 ms of ~20 ms per request). Records of other
 * shapes (named features, layered rows, integer inputs) are left as they are.
 */
export function packRows(plans: readonly InputPlan[], records: readonly FeatureRow[]): void {
  for (const plan of plans) {
    if (plan.dynamic || (plan.dtype !== 'float32' && plan.dtype !== 'float64')) continue;
    for (let r = 0; r < records.length; r++) {
      const rec = records[r] as Record<string, unknown>;
      if (rec === null || typeof rec !== 'object' || rec instanceof LayeredRecord || Array.isArray(rec)) continue;
      const v = rec[plan.name];
      if (!Array.isArray(v)) continue;
      const row = allocate(plan.dtype, plan.rowSize);
      fillArray(v, row, 0, plan, r, false);
      rec[plan.name] = row;
    }
  }
}

function fillArray(value: unknown, data: TensorArray, off: number, plan: InputPlan, row: number, integral: boolean): void {
  // (String inputs are filled by fillStrings.)
  if (isTypedRow(value)) {
    if (value.length !== plan.rowSize) throw shapeMismatch(value.length, plan, row);
    if (value.constructor === data.constructor && (value instanceof Float32Array || value instanceof Float64Array)) {
      // A packed row (or one handed over typed): one copy; NaN and ±Infinity still refused.
      const bad = plan.allowNonFinite ? -1 : firstNonFinite(value);
      if (bad >= 0) coerce(value[bad], undefined, row, `${plan.name}[${bad}]`, plan, integral);
      (data as Float32Array | Float64Array).set(value, off);
      return;
    }
    // Another dtype: value by value, through the checks below (int64 rows as numbers).
    value = Array.from(value as ArrayLike<number | bigint>, (x) => (typeof x === 'bigint' ? Number(x) : x));
  }
  const flat = flatRow(value, plan, row, 'numbers');
  const big = isBigDType(plan.dtype);
  const half = plan.dtype === 'float16';
  // Fast path: a finite float32/float64 value needs no checks (and no error label built per value).
  const plain = !integral && !half;
  for (let j = 0; j < flat.length; j++) {
    const v = flat[j];
    const x = plain && typeof v === 'number' && Number.isFinite(v) ? v : coerce(v, undefined, row, `${plan.name}[${j}]`, plan, integral);
    if (big) (data as BigInt64Array)[off + j] = BigInt(x);
    else data[off + j] = half ? toHalf(x) : x;
  }
}

/**
 * A row's value for a whole input as a flat array of `plan.rowSize` values: nested arrays
 * flattened, and a [batch] input's scalar (or one-element array) taken as it is;
 * INVALID_FEATURE_TYPE when it is not an array, SHAPE_MISMATCH for another length.
 */
function flatRow(value: unknown, plan: InputPlan, row: number, noun: 'numbers' | 'strings'): unknown[] {
  const scalar = plan.rowShape.length === 0 && !Array.isArray(value) && value !== null && typeof value !== 'object';
  const flat = scalar ? [value] : Array.isArray(value) ? (value.some(Array.isArray) ? value.flat(plan.rowShape.length) : value) : null;
  if (flat === null) {
    throw Errors.INVALID_FEATURE_TYPE(`row ${row}: "${plan.name}" is ${describe(value)}; expected an array of ${plan.rowSize} ${noun}`,
      { row, feature: plan.name, input: plan.name });
  }
  if (flat.length !== plan.rowSize) throw shapeMismatch(flat.length, plan, row);
  return flat;
}

function shapeMismatch(got: number, plan: InputPlan, row: number): Error {
  return Errors.SHAPE_MISMATCH(`row ${row}: "${plan.name}" has ${got} values; expected ${plan.rowSize} (shape [${plan.rowShape.join(',')}])`,
    { row, input: plan.name, expected: plan.rowSize, got });
}
