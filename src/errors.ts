/**
 * Every error omniserve raises on purpose, in one table.
 *
 * Each entry has a stable `code` (what clients and tests match on) and the HTTP status it
 * maps to, so the HTTP layer never guesses. Messages name the bad thing (model, input,
 * feature, row) so a user can fix the request without reading server logs.
 * @module
 */

/** An error with a stable code, an HTTP status and optional structured details. */
export class OmniserveError extends Error {
  override readonly name = 'OmniserveError';
  constructor(
    readonly code: ErrorCode,
    readonly status: number,
    message: string,
    readonly details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** The JSON body the HTTP layer sends: `{error, code, details?}`, never a stack. */
  toJSON(): { error: string; code: ErrorCode; details?: Record<string, unknown> } {
    return this.details === undefined
      ? { error: this.message, code: this.code }
      : { error: this.message, code: this.code, details: this.details };
  }
}

type Details = Record<string, unknown>;
const make = (code: ErrorCode, status: number) =>
  (message: string, details?: Details, cause?: unknown) =>
    new OmniserveError(code, status, message, details, cause === undefined ? undefined : { cause });

/** The table. Keys are the stable codes. */
export const Errors = {
  // Requests and records
  INVALID_JSON: make('INVALID_JSON', 400),
  INVALID_REQUEST: make('INVALID_REQUEST', 422),
  UNSUPPORTED_MEDIA_TYPE: make('UNSUPPORTED_MEDIA_TYPE', 415),
  PAYLOAD_TOO_LARGE: make('PAYLOAD_TOO_LARGE', 413),
  EMPTY_BATCH: make('EMPTY_BATCH', 422),
  BATCH_TOO_LARGE: make('BATCH_TOO_LARGE', 413),
  MISSING_FEATURE: make('MISSING_FEATURE', 422),
  INVALID_FEATURE_TYPE: make('INVALID_FEATURE_TYPE', 422),
  INVALID_FEATURE_VALUE: make('INVALID_FEATURE_VALUE', 422),
  UNKNOWN_INPUT: make('UNKNOWN_INPUT', 422),
  MISSING_INPUT: make('MISSING_INPUT', 422),
  DTYPE_MISMATCH: make('DTYPE_MISMATCH', 422),
  SHAPE_MISMATCH: make('SHAPE_MISMATCH', 422),
  // Models
  MODEL_NOT_FOUND: make('MODEL_NOT_FOUND', 404),
  MODEL_FILE_NOT_FOUND: make('MODEL_FILE_NOT_FOUND', 404),
  INVALID_MODEL: make('INVALID_MODEL', 422),
  INVALID_CONFIG: make('INVALID_CONFIG', 400),
  UNSUPPORTED_DTYPE: make('UNSUPPORTED_DTYPE', 422),
  MODEL_TOO_LARGE: make('MODEL_TOO_LARGE', 413),
  MODEL_CORRUPT: make('MODEL_CORRUPT', 422),
  // Backends and running
  UNKNOWN_BACKEND: make('UNKNOWN_BACKEND', 400),
  BACKEND_UNAVAILABLE: make('BACKEND_UNAVAILABLE', 503),
  INFERENCE_FAILED: make('INFERENCE_FAILED', 500),
  INTERNAL: make('INTERNAL', 500),
  OVERLOADED: make('OVERLOADED', 503),
  DEADLINE_EXCEEDED: make('DEADLINE_EXCEEDED', 504),
  SHUTTING_DOWN: make('SHUTTING_DOWN', 503),
  // Serving
  NOT_FOUND: make('NOT_FOUND', 404),
  METHOD_NOT_ALLOWED: make('METHOD_NOT_ALLOWED', 405),
  UNAUTHORIZED: make('UNAUTHORIZED', 401),
  ENTITY_NOT_FOUND: make('ENTITY_NOT_FOUND', 404),
  FEATURE_STORE_UNAVAILABLE: make('FEATURE_STORE_UNAVAILABLE', 503),
  NOT_IMPLEMENTED: make('NOT_IMPLEMENTED', 501),
  // Async jobs
  QUEUE_UNAVAILABLE: make('QUEUE_UNAVAILABLE', 503),
  DELIVERY_LIMIT_EXCEEDED: make('DELIVERY_LIMIT_EXCEEDED', 500),
  // Batch (unit failures recorded in a run's manifest)
  INVALID_OUTPUT: make('INVALID_OUTPUT', 500),
  WORKER_DIED: make('WORKER_DIED', 500),
  CORRUPT_PARQUET: make('CORRUPT_PARQUET', 422),
  SHARD_LAYOUT_MISMATCH: make('SHARD_LAYOUT_MISMATCH', 409),
} as const;

/** Stable error codes. */
export type ErrorCode =
  | 'INVALID_JSON' | 'INVALID_REQUEST' | 'UNSUPPORTED_MEDIA_TYPE' | 'PAYLOAD_TOO_LARGE'
  | 'EMPTY_BATCH' | 'BATCH_TOO_LARGE' | 'MISSING_FEATURE' | 'INVALID_FEATURE_TYPE'
  | 'INVALID_FEATURE_VALUE' | 'UNKNOWN_INPUT' | 'MISSING_INPUT' | 'DTYPE_MISMATCH'
  | 'SHAPE_MISMATCH' | 'MODEL_NOT_FOUND' | 'MODEL_FILE_NOT_FOUND' | 'INVALID_MODEL'
  | 'INVALID_CONFIG' | 'UNSUPPORTED_DTYPE' | 'MODEL_TOO_LARGE' | 'MODEL_CORRUPT' | 'UNKNOWN_BACKEND' | 'BACKEND_UNAVAILABLE'
  | 'INFERENCE_FAILED' | 'INTERNAL' | 'OVERLOADED' | 'NOT_IMPLEMENTED' | 'DEADLINE_EXCEEDED' | 'SHUTTING_DOWN'
  | 'NOT_FOUND' | 'METHOD_NOT_ALLOWED' | 'UNAUTHORIZED' | 'ENTITY_NOT_FOUND' | 'FEATURE_STORE_UNAVAILABLE'
  | 'QUEUE_UNAVAILABLE' | 'DELIVERY_LIMIT_EXCEEDED' | 'INVALID_OUTPUT' | 'WORKER_DIED'
  | 'CORRUPT_PARQUET' | 'SHARD_LAYOUT_MISMATCH';

/** True when `e` is an OmniserveError, optionally with the given code. */
export function isOmniserveError(e: unknown, code?: ErrorCode): e is OmniserveError {
  return e instanceof OmniserveError && (code === undefined || e.code === code);
}

/** The message of anything thrown, for reports (never the stack). */
export function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  return typeof e === 'string' ? e : JSON.stringify(e);
}
