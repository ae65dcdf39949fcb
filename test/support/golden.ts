/**
 * The test fixtures' goldens as tests use them: the breast-cancer and wine-mixed goldens,
 * the breast-cancer feature list, and the probability a golden row must score.
 * @module
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BC_MODEL = join(ROOT, 'test/fixtures/models/breast-cancer.onnx');
export const WINE_MODEL = join(ROOT, 'test/fixtures/models/wine-mixed.onnx');
/** A tiny file whose 64-row run takes ~100 ms (scripts/make-slow-fixture.py): its answer is the mean of the input row. */
export const SLOW_MODEL = join(ROOT, 'test/fixtures/models/slow-matmul.onnx');

export interface Golden {
  inputs: Record<string, { dims: number[]; data: number[] }>;
  outputs: Record<string, { dims: number[]; data: number[] }>;
  records: Record<string, number>[];
}
export const readJsonFile = <T>(p: string) => JSON.parse(readFileSync(join(ROOT, p), 'utf8')) as T;
export const bc = readJsonFile<Golden>('test/fixtures/goldens/breast-cancer.json');
export const wine = readJsonFile<Golden>('test/fixtures/goldens/wine-mixed.json');
export const bcConfig = readJsonFile<{ inputs: { features: { features: string[] } }; outputs: Record<string, unknown> } & Record<string, unknown>>(
  'test/fixtures/models/breast-cancer.config.json');
export const FEATURES = bcConfig.inputs.features.features;
export const USER_FEATURES = FEATURES.slice(0, 20);
export const ITEM_FEATURES = FEATURES.slice(20);
export const logit = (i: number) => bc.outputs['logit']!.data[i]!;
export const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
export const pick = (rec: Record<string, number>, names: readonly string[]) => Object.fromEntries(names.map((n) => [n, rec[n]!]));

/** The probability golden row `i % 32` of breast-cancer must score (sigmoid of its logit). */
export const wantProbability = (i: number) => sigmoid(logit(i % 32));
