/**
 * Models shipped inside the package, addressable by a short name (`--model demo`).
 * @module
 */
import { fileURLToPath } from 'node:url';

const MODELS = new URL('../../models/', import.meta.url);

/** Short names → bundled model files. */
export const BUNDLED_MODELS: Readonly<Record<string, string>> = Object.freeze({
  demo: 'breast-cancer.onnx',
  'breast-cancer': 'breast-cancer.onnx',
});

/** The path of a bundled model by short name, or the argument unchanged. */
export function resolveModelArg(arg: string): string {
  const file = BUNDLED_MODELS[arg];
  return file === undefined ? arg : fileURLToPath(new URL(file, MODELS));
}

/** The folder of bundled models and their sample data. */
export const BUNDLED_DIR = fileURLToPath(MODELS).replace(/\/$/, '');

/** The bundled sample rows for the demo model. */
export const DEMO_SAMPLE = fileURLToPath(new URL('breast-cancer.sample.jsonl', MODELS));
