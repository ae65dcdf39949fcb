/**
 * The benchmark's inputs: the test fixtures' models, configs and goldens, tiled up to a
 * batch size. Tensors and records hold the same rows in the same order, so raw, infer and
 * predict score identical data.
 * @module
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tensorFromNumbers, type DType, type FeatureRecord, type TensorData } from '../../src/index.ts';

/** The fixture models, smallest graph first. */
export const MODELS = ['breast-cancer', 'digits', 'wine-mixed'] as const;

type GoldenTensor = { dtype: DType; dims: number[]; data: number[] };

/** One fixture model with what the bench feeds it. */
export interface Fixture {
  readonly name: string;
  readonly bytes: Uint8Array;
  /** The serving config (`<name>.config.json`), as `Model.create` takes it. */
  readonly config: unknown;
  readonly inputs: Readonly<Record<string, GoldenTensor>>;
  readonly outputs: Readonly<Record<string, GoldenTensor>>;
  readonly records: readonly FeatureRecord[];
}

const fixturePath = (rel: string) => fileURLToPath(new URL(`../../test/fixtures/${rel}`, import.meta.url));
const readJson = (rel: string): unknown => JSON.parse(readFileSync(fixturePath(rel), 'utf8'));

/** Reads a fixture model, its config and its golden rows. */
export function loadFixture(name: string): Fixture {
  const golden = readJson(`goldens/${name}.json`) as Pick<Fixture, 'inputs' | 'outputs' | 'records'>;
  return {
    name,
    bytes: new Uint8Array(readFileSync(fixturePath(`models/${name}.onnx`))),
    config: readJson(`models/${name}.config.json`),
    inputs: golden.inputs,
    outputs: golden.outputs,
    records: golden.records,
  };
}

/** The golden rows of a flat row-major tensor, repeated cyclically up to `batch` rows. */
export function tileRows(t: GoldenTensor, batch: number): number[] {
  const per = t.data.length / t.dims[0]!;
  const out = new Array<number>(batch * per);
  for (let i = 0; i < out.length; i++) out[i] = t.data[i % t.data.length]!;
  return out;
}

/** Input tensors of `batch` rows (golden rows repeated). */
export function tileFeeds(f: Fixture, batch: number): Record<string, TensorData> {
  const feeds: Record<string, TensorData> = {};
  for (const [name, t] of Object.entries(f.inputs)) {
    feeds[name] = tensorFromNumbers(t.dtype, tileRows(t, batch), [batch, ...t.dims.slice(1)], name);
  }
  return feeds;
}

/** `batch` records (golden records repeated), the same rows as {@link tileFeeds}. */
export function cycleRecords(f: Fixture, batch: number): FeatureRecord[] {
  return Array.from({ length: batch }, (_, i) => f.records[i % f.records.length]!);
}
