/**
 * Will the bundled models fit a Workers isolate? An isolate may use 128 MB, WebAssembly
 * memory included, and going over kills it mid-request; better to refuse at build time
 * (and again at start-up) with the numbers than to find out under load.
 *
 * The estimate, per model: the Data module's ArrayBuffer, the copy onnxruntime-web makes
 * into the WASM heap to create the session, and the session's own weights (the heap
 * never shrinks, so the copy's space stays taken) — about three times the file. Plus a
 * fixed part for the runtime: the WASM heap's start (16 MiB), the JS of the app, arenas.
 * Web-API-only.
 * @module
 */
import { Errors } from '../../src/errors.ts';

const MiB = 1024 * 1024;

/** What a Workers isolate may use (bytes). */
export const ISOLATE_MEMORY_BYTES = 128 * MiB;
/** Memory taken before any model: WASM heap start, JS heap, onnxruntime arenas (estimate). */
export const RUNTIME_BASE_BYTES = 32 * MiB;
/** Memory per model byte (estimate; see the module comment). */
export const BYTES_PER_MODEL_BYTE = 3;

/** One bundled model's size. */
export interface ModelSize {
  readonly name: string;
  readonly bytes: number;
}

/** The estimate for a set of models, in bytes. */
export function estimateMemory(models: readonly ModelSize[]): number {
  return RUNTIME_BASE_BYTES + BYTES_PER_MODEL_BYTE * models.reduce((n, m) => n + m.bytes, 0);
}

const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;

/**
 * Throws INVALID_CONFIG naming each model's size when the estimate is over `limit`
 * (default {@link ISOLATE_MEMORY_BYTES}); returns the estimate otherwise.
 */
export function checkMemoryBudget(models: readonly ModelSize[], limit = ISOLATE_MEMORY_BYTES): number {
  const need = estimateMemory(models);
  if (need > limit) {
    const sizes = models.map((m) => `${m.name} ${mib(m.bytes)}`).join(', ');
    const most = Math.max(0, Math.floor((limit - RUNTIME_BASE_BYTES) / BYTES_PER_MODEL_BYTE));
    throw Errors.INVALID_CONFIG(
      `the bundled models are too large for a Workers isolate: ${sizes}; onnxruntime-web needs about ` +
      `${BYTES_PER_MODEL_BYTE}× the model plus ${mib(RUNTIME_BASE_BYTES)}, ${mib(need)} in all, over the ` +
      `${mib(limit)} an isolate may use. Models of at most ${mib(most)} together fit; serve larger ones ` +
      'from `omniserve serve` (Node, Bun, Deno) instead.',
      { models: models.map((m) => ({ name: m.name, bytes: m.bytes })), estimatedBytes: need, limitBytes: limit },
    );
  }
  return need;
}
