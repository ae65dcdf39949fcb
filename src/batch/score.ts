/**
 * Scores a unit column-wise: the feature columns are copied straight into one row-major
 * tensor per inference call (no per-row objects on the way in), run with `model.infer`,
 * post-processed with `model.results`, and checked before anything is written.
 * @module
 */
import { Errors } from '../errors.ts';
import type { Model } from '../core/model.ts';
import { allocate, floatProblem, integerProblem, isBigDType, numericData, toHalf, type DType, type TensorArray, type TensorData } from '../core/tensor.ts';
import { planOutputs, type OutputPlan, type OutputValue, type PredictionResult } from '../core/postprocess.ts';

/** Predictions and probabilities of a unit's rows. */
export interface Scores {
  readonly prediction: Float64Array;
  /** NaN everywhere when the model gives no probability (`hasProbability` false). */
  readonly probability: Float64Array;
  readonly hasProbability: boolean;
  /** Milliseconds spent in `model.infer` (the rest of scoring is tensor assembly and post-processing). */
  readonly inferMs?: number;
}

/** Where scoring takes its large arrays from (a unit's reusable buffers); contents undefined. */
export interface ScratchBuffers {
  take(bytes: number): ArrayBuffer;
}

/** A column as scoring reads it: numbers (any numeric Parquet type), or strings for a string input. */
export type FeatureColumn = ArrayLike<number> | readonly string[];

/** One features-mode input of a batch model and where its columns sit among {@link FeatureInput.features}. */
export interface InputColumns {
  readonly input: string;
  readonly dtype: DType;
  /** Its columns, in the input's feature order. */
  readonly features: readonly string[];
  /** Index of its first column in {@link FeatureInput.features}. */
  readonly from: number;
}

/** How a batch model is fed from columns: every input's features, input by input. */
export interface FeatureInput {
  /** Every column the model is fed from, input by input (the columns a unit reads). */
  readonly features: readonly string[];
  readonly inputs: readonly InputColumns[];
}

/**
 * How `model` is fed from columns; INVALID_CONFIG when it cannot be: every input needs a
 * "features" list in the model config (float inputs take any finite number; integer and
 * bool inputs take integers in their range, checked per value; string inputs take string
 * columns).
 */
export function featureInput(model: Model): FeatureInput {
  const inputs: InputColumns[] = [];
  const features: string[] = [];
  for (const spec of model.metadata.inputs) {
    const list = model.features[spec.name];
    if (!list) {
      throw Errors.INVALID_CONFIG(`model ${model.name}: batch scoring feeds every input from columns, and input "${spec.name}" has no "features" list in the model config`);
    }
    const dtype = model.config.inputs[spec.name]?.dtype ?? spec.dtype;
    inputs.push({ input: spec.name, dtype, features: list, from: features.length });
    features.push(...list);
  }
  if (inputs.length === 0) throw Errors.INVALID_CONFIG(`model ${model.name}: batch scoring needs an input with a "features" list in the model config; the model has none`);
  const plan = planOutputs(model.metadata.outputs, model.config);
  const first = model.metadata.outputs[0];
  if ((!plan.primary || plan.primary.config.postprocess === 'none') && first?.dtype === 'string') {
    throw Errors.INVALID_CONFIG(`model ${model.name}: batch scoring writes a numeric prediction column, and the prediction would be the string output "${first.name}"; give a numeric output a postprocess`);
  }
  return { features, inputs };
}

/**
 * Scores `rows` rows of the feature columns `cols` (in `fi.features` order) in calls of
 * `batchSize` rows. Each input's tensor is filled from its columns in blocks of 512 rows
 * (the block stays in cache; `fill`), and outputs are post-processed column-wise
 * (`postColumns`), so no per-row object is made. `firstRow` is the file row of row 0, so
 * errors name rows as the user sees them.
 */
export async function scoreColumns(model: Model, fi: FeatureInput, cols: readonly FeatureColumn[], rows: number, batchSize: number, firstRow = 0, buffers?: ScratchBuffers): Promise<Scores> {
  const f64 = (n: number) => buffers ? new Float64Array(buffers.take(n * 8), 0, n) : new Float64Array(n);
  const prediction = f64(rows);
  const probability = f64(rows);
  const fillers = fi.inputs.map((ic) => inputFiller(ic, cols.slice(ic.from, ic.from + ic.features.length), Math.min(batchSize, rows), buffers));
  const plan = planOutputs(model.metadata.outputs, model.config);
  let hasProbability = false;
  let inferMs = 0;
  for (let start = 0; start < rows; start += batchSize) {
    const n = Math.min(batchSize, rows - start);
    const feeds: Record<string, TensorData> = {};
    for (const f of fillers) feeds[f.input] = f.fill(start, n, firstRow);
    const ti = performance.now();
    // fill() has checked every value.
    const out = await model.infer(feeds, { finiteChecked: true });
    inferMs += performance.now() - ti;
    const has = postColumns(plan, out, n, prediction, probability, start) ?? fromResults(model.results(out, n), prediction, probability, start);
    if (start === 0) hasProbability = has;
  }
  return { prediction, probability, hasProbability, inferMs };
}

/**
 * Fills one input's tensor for rows [start, start + n) of its columns, reusing its arrays
 * between calls. float32 and float64 are filled directly; float16 and the integer dtypes
 * are filled as float64 and converted once from there (float16 through float32 would round
 * twice), each value checked against the dtype and named by row and column when it fails.
 */
function inputFiller(ic: InputColumns, columns: readonly FeatureColumn[], maxRows: number, buffers?: ScratchBuffers): { input: string; fill(start: number, n: number, firstRow: number): TensorData } {
  const width = columns.length;
  if (ic.dtype === 'string') {
    const sc = columns as readonly (readonly string[])[];
    return {
      input: ic.input,
      fill(start, n) {
        const data = new Array<string>(n * width);
        for (let j = 0; j < width; j++) {
          const col = sc[j]!;
          for (let r = 0, o = j; r < n; r++, o += width) data[o] = col[start + r]!;
        }
        return { dtype: 'string', data, dims: [n, width] };
      },
    };
  }
  const cols = columns as readonly ArrayLike<number>[];
  const Data = ic.dtype === 'float32' ? Float32Array : Float64Array;
  const scratch = buffers?.take(maxRows * width * Data.BYTES_PER_ELEMENT);
  let data: Float32Array | Float64Array | undefined;
  let converted: TensorArray | undefined;
  return {
    input: ic.input,
    fill(start: number, n: number, firstRow: number): TensorData {
      if (!data || data.length !== n * width) data = scratch ? new Data(scratch, 0, n * width) : new Data(n * width);
      fill(data, cols, start, n, width, ic.features, firstRow);
      const dims = [n, width];
      if (ic.dtype === 'float32' || ic.dtype === 'float64') return { dtype: ic.dtype, data, dims };
      if (!converted || converted.length !== n * width) converted = allocate(ic.dtype as Exclude<DType, 'string'>, n * width);
      convertRows(data, converted, ic.dtype, width, ic.features, firstRow + start);
      return { dtype: ic.dtype, data: converted, dims };
    },
  };
}

/**
 * Rows [start, start + n) of the columns into the row-major `data`, in blocks of 512 rows
 * (the block stays in cache) and eight columns at a time, then four, two and one for the
 * rest (eight loads and eight adjacent stores per row: 4 at a time was 1.5-2.5x faster than
 * one, 8 at a time another ~15 %). A NaN or infinite value throws naming its row and column.
 */
function fill(data: Float32Array | Float64Array, cols: readonly ArrayLike<number>[], start: number, n: number, width: number, names: readonly string[], firstRow: number): void {
  for (let b = 0; b < n; b += 512) {
    const e = Math.min(n, b + 512);
    let j = 0;
    for (; j + 8 <= width; j += 8) {
      const c0 = cols[j]!, c1 = cols[j + 1]!, c2 = cols[j + 2]!, c3 = cols[j + 3]!, c4 = cols[j + 4]!, c5 = cols[j + 5]!, c6 = cols[j + 6]!, c7 = cols[j + 7]!;
      for (let r = b, o = b * width + j; r < e; r++, o += width) {
        const k = start + r;
        const x0 = c0[k]!, x1 = c1[k]!, x2 = c2[k]!, x3 = c3[k]!, x4 = c4[k]!, x5 = c5[k]!, x6 = c6[k]!, x7 = c7[k]!;
        // One comparison for eight values: a NaN or ±Infinity among them makes the sum NaN.
        if (!(x0 - x0 + x1 - x1 + x2 - x2 + x3 - x3 + x4 - x4 + x5 - x5 + x6 - x6 + x7 - x7 === 0)) throw badAmong(cols, j, 8, k, names, firstRow);
        data[o] = x0; data[o + 1] = x1; data[o + 2] = x2; data[o + 3] = x3; data[o + 4] = x4; data[o + 5] = x5; data[o + 6] = x6; data[o + 7] = x7;
      }
    }
    for (; j + 4 <= width; j += 4) {
      const c0 = cols[j]!, c1 = cols[j + 1]!, c2 = cols[j + 2]!, c3 = cols[j + 3]!;
      for (let r = b, o = b * width + j; r < e; r++, o += width) {
        const k = start + r;
        const x0 = c0[k]!, x1 = c1[k]!, x2 = c2[k]!, x3 = c3[k]!;
        if (!(x0 - x0 + x1 - x1 + x2 - x2 + x3 - x3 === 0)) throw badAmong(cols, j, 4, k, names, firstRow);
        data[o] = x0; data[o + 1] = x1; data[o + 2] = x2; data[o + 3] = x3;
      }
    }
    for (; j + 2 <= width; j += 2) {
      const c0 = cols[j]!, c1 = cols[j + 1]!;
      for (let r = b, o = b * width + j; r < e; r++, o += width) {
        const k = start + r;
        const x0 = c0[k]!, x1 = c1[k]!;
        if (!(x0 - x0 + x1 - x1 === 0)) throw badAmong(cols, j, 2, k, names, firstRow);
        data[o] = x0; data[o + 1] = x1;
      }
    }
    for (; j < width; j++) {
      const col = cols[j]!;
      for (let r = b, o = b * width + j; r < e; r++, o += width) {
        const x = col[start + r]!;
        if (!(x - x === 0)) throw badFeature(names[j]!, firstRow + start + r, x);
        data[o] = x;
      }
    }
  }
}

/** The error for the first bad value among columns [j, j + count) at column row `k`. */
function badAmong(cols: readonly ArrayLike<number>[], j: number, count: number, k: number, names: readonly string[], firstRow: number) {
  for (let c = j; c < j + count; c++) {
    const x = cols[c]![k]!;
    if (!(x - x === 0)) return badFeature(names[c]!, firstRow + k, x);
  }
  return badFeature(names[j]!, firstRow + k, NaN);
}

/**
 * `model.results(out, n)`'s prediction and probability, computed column-wise into
 * `prediction`/`probability` at `at` with the same arithmetic; returns whether the model
 * gives probabilities, or undefined for a post-processing it does not know (the caller
 * then goes through `model.results`).
 */
export function postColumns(plan: OutputPlan, out: Readonly<Record<string, TensorData>>, n: number, prediction: Float64Array, probability: Float64Array, at: number): boolean | undefined {
  const primary = plan.primary;
  const t = primary ? out[primary.name] : undefined;
  if (!primary || !t || primary.config.postprocess === 'none') {
    // No post-processing: the prediction is the first output's (first) value.
    const first = plan.outputs.map((s) => out[s.name]).find((x) => x !== undefined);
    const per = first ? perRow(first) : 0;
    const fd = first ? numericData(first) : undefined;
    for (let r = 0; r < n; r++) {
      prediction[at + r] = fd && per > 0 ? Number(fd[r * per]) : NaN;
      probability[at + r] = NaN;
    }
    return false;
  }
  const c = primary.config;
  const per = perRow(t);
  const d = numericData(t);
  if (per < 1) return undefined;
  switch (c.postprocess) {
    case 'sigmoid':
    case 'probabilities': {
      // As fromProbabilities in postprocess.ts: sigmoid first, or the values as they are.
      const squash = c.postprocess === 'sigmoid';
      if (per === 1) {
        for (let r = 0; r < n; r++) {
          const p = squash ? 1 / (1 + Math.exp(-Number(d[r]))) : Number(d[r]);
          probability[at + r] = p;
          prediction[at + r] = p >= c.threshold ? 1 : 0;
        }
      } else {
        for (let r = 0; r < n; r++) {
          let best = 0;
          let bp = -Infinity;
          for (let j = 0; j < per; j++) {
            const x = Number(d[r * per + j]);
            const p = squash ? 1 / (1 + Math.exp(-x)) : x;
            if (j === 0 || p > bp) { best = j; bp = p; }
          }
          prediction[at + r] = best;
          probability[at + r] = bp;
        }
      }
      return true;
    }
    case 'softmax':
      for (let r = 0; r < n; r++) {
        let max = -Infinity;
        for (let j = 0; j < per; j++) { const x = Number(d[r * per + j]); if (x > max) max = x; }
        let sum = 0;
        for (let j = 0; j < per; j++) sum += Math.exp(Number(d[r * per + j]) - max);
        let best = 0;
        let be = -Infinity;
        for (let j = 0; j < per; j++) {
          const p = Math.exp(Number(d[r * per + j]) - max) / sum;
          if (j === 0 || p > be) { best = j; be = p; }
        }
        prediction[at + r] = best;
        probability[at + r] = be;
      }
      return true;
    case 'argmax':
      for (let r = 0; r < n; r++) {
        let best = 0;
        for (let j = 1; j < per; j++) if (Number(d[r * per + j]) > Number(d[r * per + best])) best = j;
        prediction[at + r] = best;
        probability[at + r] = NaN;
      }
      return false;
    default:
      return undefined;
  }
}

function perRow(t: TensorData): number {
  const batch = t.dims[0] ?? 1;
  return batch > 0 ? t.data.length / batch : 0;
}

function fromResults(results: readonly PredictionResult[], prediction: Float64Array, probability: Float64Array, at: number): boolean {
  for (let r = 0; r < results.length; r++) {
    const res = results[r]!;
    prediction[at + r] = res.prediction ?? firstOutput(res.outputs);
    probability[at + r] = res.probability ?? NaN;
  }
  return results[0]?.probability !== undefined;
}

function firstOutput(outputs: Record<string, OutputValue>): number {
  for (const v of Object.values(outputs)) return typeof v === 'number' ? v : typeof v === 'string' ? NaN : Number(v[0] ?? NaN);
  return NaN;
}

/**
 * Checked finite values into a float16, integer or bool array (`integerProblem ??
 * floatProblem`, as the record path checks): a fraction, a value out of the dtype's range
 * or a float16 magnitude past ±65504 names its row and column.
 */
function convertRows(data: Float64Array | Float32Array, out: TensorArray, dtype: DType, width: number, names: readonly string[], firstRow: number): void {
  const big = isBigDType(dtype);
  const half = dtype === 'float16';
  for (let i = 0; i < data.length; i++) {
    const x = data[i]!;
    const problem = integerProblem(x, dtype) ?? floatProblem(x, dtype);
    if (problem) throw badValue(names, width, i, firstRow, x, problem);
    if (big) (out as BigInt64Array)[i] = BigInt(x);
    else (out as Int32Array)[i] = half ? toHalf(x) : x;
  }
}

function badValue(names: readonly string[], width: number, i: number, firstRow: number, x: number, problem: string) {
  const j = i % width;
  const row = firstRow + (i - j) / width;
  return Errors.INVALID_FEATURE_VALUE(`row ${row}: column "${names[j]}" is ${x}; ${problem}`, { row, feature: names[j] });
}

function badFeature(column: string, row: number, value: unknown) {
  const what = value === null || value === undefined ? 'null' : String(value);
  return Errors.INVALID_FEATURE_VALUE(`row ${row}: column "${column}" is ${what}; features must be finite numbers`, { row, feature: column });
}

/** A unit's outputs that break the contract, as one report; undefined when all are sound. */
export function validateScores(s: Scores, firstRow = 0): string | undefined {
  let bad = 0;
  let first = '';
  for (let i = 0; i < s.prediction.length; i++) {
    const p = s.prediction[i]!;
    const q = s.probability[i]!;
    const problem = !Number.isFinite(p) ? `prediction is ${p}`
      : s.hasProbability && !(q >= 0 && q <= 1) ? `probability is ${q}, outside [0,1]` : '';
    if (problem && bad++ === 0) first = `row ${firstRow + i}: ${problem}`;
  }
  return bad ? `${bad} of ${s.prediction.length} rows have invalid outputs (first: ${first})` : undefined;
}
