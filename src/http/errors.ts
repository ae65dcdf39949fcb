/**
 * One mapping from errors to HTTP answers: OmniserveError → its status and `{error, code,
 * details?}`; anything else → 500 with a generic message (the cause goes to the log, never
 * to the client).
 * @module
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { Errors, isOmniserveError, messageOf, type OmniserveError } from '../errors.ts';

/** Turns any thrown value into a named error. */
export function toOmniserveError(e: unknown): OmniserveError {
  if (isOmniserveError(e)) return e;
  if (e instanceof HTTPException) {
    if (e.status === 413) return Errors.PAYLOAD_TOO_LARGE(e.message || 'request body too large');
    if (e.status === 401) return Errors.UNAUTHORIZED('a valid bearer key is required');
    return Errors.INVALID_REQUEST(e.message || `HTTP ${e.status}`);
  }
  return Errors.INTERNAL('internal error', undefined, e);
}

/** The JSON error response for `e`. */
export function errorResponse(c: Context, e: unknown): Response {
  const err = toOmniserveError(e);
  if (err.code === 'INTERNAL' || err.code === 'INFERENCE_FAILED') console.error(`omniserve: ${messageOf(err.cause ?? err)}`);
  const headers: Record<string, string> = {};
  if (err.code === 'OVERLOADED' || err.code === 'SHUTTING_DOWN') headers['Retry-After'] = '1';
  if (err.code === 'UNAUTHORIZED') headers['WWW-Authenticate'] = 'Bearer';
  return c.json(err.toJSON(), err.status as 400, headers);
}
