/**
 * The heavy model's input rows, shared by the in-process measurement (heavy-raw.ts) and the
 * request bodies wrk sends (run.ts), so both score the same kind of data: 1,024 values in
 * [-1, 1) per row, from a seeded PRNG, with 4 decimals (short JSON; exact in both paths).
 * @module
 */
import { binaryBody } from '../../src/http/binary-body.ts';

/** Values per row: the heavy MLP's input width (heavy-model.py LAYERS[0]). */
export const HEAVY_WIDTH = 1024;
/** Rows per batch request, and the batch size the raw baseline runs at (bench/core's middle size). */
export const HEAVY_BATCH = 64;

/** `n` rows of {@link HEAVY_WIDTH} values (deterministic). */
export function heavyRows(n: number, seed = 64): number[][] {
  let a = seed >>> 0;
  // mulberry32, as in seed-redis.ts: tiny, seeded, good enough for test inputs.
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  return Array.from({ length: n }, () => Array.from({ length: HEAVY_WIDTH }, () => Math.round((rand() * 2 - 1) * 1e4) / 1e4));
}

/**
 * The same rows as an Open Inference Protocol request with the tensor as binary data (the
 * binary tensor data extension): the body, and the JSON part's length for the
 * `Inference-Header-Content-Length` header. Outputs come back as JSON (one number per row).
 */
export function heavyOipBinary(rows: readonly (readonly number[])[]): { body: Uint8Array; headerLength: number } {
  return binaryBody({
    inputs: [{ name: 'x', shape: [rows.length, HEAVY_WIDTH], datatype: 'FP32', parameters: { binary_data_size: rows.length * HEAVY_WIDTH * 4 } }],
  }, [new Float32Array(rows.flat())]);
}

/** The JSON body of `POST /v1/models/heavy-mlp/predict` scoring `rows`. */
export function heavyBody(rows: readonly (readonly number[])[]): string {
  return JSON.stringify({ instances: rows.map((x) => ({ x })) });
}
