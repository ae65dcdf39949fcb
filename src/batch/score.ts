/**
 * Scores a unit column-wise: the feature columns are copied straight into one row-major
 * tensor per inference call (no per-row objects on the way in), run with `model.infer`,
 * post-processed with `model.results`, and checked before anything is written.
 * @module
 */
import type { DecodedArray } from 'hyparquet';
import { Errors } from '../errors.ts';
import type { Model } from '../core/model.ts';
import type { TensorData } from '../core/tensor.ts';

/** Predictions and probabilities of a unit's rows. */
export interface Scores {
  readonly prediction: Float64Array;
  /** NaN everywhere when the model gives no probability (`hasProbability` false). */
  readonly probability: Float64Array;
  readonly hasProbability: boolean;
}

/** The one features-mode input a batch model is fed through, with its ordered columns. */
export interface FeatureInput {
  readonly input: string;
  readonly dtype: 'float32' | 'float64';
  readonly features: readonly string[];
}

/** Which input and columns `model` is fed from; INVALID_CONFIG when it cannot be fed from columns. */
export function featureInput(model: Model): FeatureInput {
  const entries = Object.entries(model.features);
  const spec = model.metadata.inputs[0];
  if (entries.length !== 1 || model.metadata.inputs.length !== 1 || !spec) {
    throw Errors.INVALID_CONFIG(`model ${model.name}: batch scoring needs one input with a "features" list in the model config; it has ${model.metadata.inputs.length} input(s) and features for ${entries.length}`);
  }
  const [input, features] = entries[0]!;
  const dtype = model.config.inputs[input]?.dtype ?? spec.dtype;
  if (dtype !== 'float32' && dtype !== 'float64') {
    throw Errors.INVALID_CONFIG(`model ${model.name}: input "${input}" is ${dtype}; batch scoring feeds float32 or float64 inputs`);
  }
  return { input, dtype, features };
}

/**
 * Scores `rows` rows of `columns` in calls of `batchSize` rows. `firstRow` is the file row
 * of row 0, so errors name rows as the user sees them.
 */
export async function scoreColumns(model: Model, fi: FeatureInput, columns: Readonly<Record<string, DecodedArray>>, rows: number, batchSize: number, firstRow = 0): Promise<Scores> {
  const prediction = new Float64Array(rows);
  const probability = new Float64Array(rows);
  const cols = fi.features.map((f) => columns[f]!);
  const width = cols.length;
  let hasProbability = false;
  for (let start = 0; start < rows; start += batchSize) {
    const n = Math.min(batchSize, rows - start);
    const data = fi.dtype === 'float32' ? new Float32Array(n * width) : new Float64Array(n * width);
    for (let j = 0; j < width; j++) {
      const col = cols[j]!;
      for (let r = 0; r < n; r++) {
        const x = Number(col[start + r] ?? NaN);
        // One comparison per value: NaN and ±Infinity both fail it.
        if (!(x - x === 0)) throw badFeature(fi.features[j]!, firstRow + start + r, col[start + r]);
        data[r * width + j] = x;
      }
    }
    const feeds: Record<string, TensorData> = { [fi.input]: { dtype: fi.dtype, data, dims: [n, width] } };
    const results = model.results(await model.infer(feeds), n);
    if (start === 0) hasProbability = results[0]?.probability !== undefined;
    for (let r = 0; r < n; r++) {
      const res = results[r]!;
      prediction[start + r] = res.prediction ?? firstOutput(res.outputs);
      probability[start + r] = res.probability ?? NaN;
    }
  }
  return { prediction, probability, hasProbability };
}

function firstOutput(outputs: Record<string, number | number[]>): number {
  for (const v of Object.values(outputs)) return typeof v === 'number' ? v : (v[0] ?? NaN);
  return NaN;
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
