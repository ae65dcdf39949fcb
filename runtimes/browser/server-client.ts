/**
 * The server side of the browser client: the same records sent to an omniserve server as
 * `POST /v1/models/{name}/predict {instances}`, answered in the same shape as local
 * inference. Used for `backend: 'server'` and as the fallback when local inference cannot
 * run. Web-API-only.
 * @module
 */
import type { FeatureRecord } from '../../src/core/features.ts';
import { Errors, type ErrorCode, type OmniserveError } from '../../src/errors.ts';
import type { PredictResponse } from './types.ts';

/** Options of {@link createServerPredictor}. */
export interface ServerPredictorOptions {
  /** The server's base URL, e.g. `https://api.example.com` or `location.origin`. */
  readonly serverUrl: string;
  readonly model: string;
  readonly version?: string;
  /** Extra request headers (e.g. `Authorization: Bearer …`). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly fetch?: typeof fetch;
}

/** Scores records on the server. */
export type ServerPredictor = (records: readonly FeatureRecord[]) => Promise<PredictResponse>;

/** Builds a predictor for one model on one server. */
export function createServerPredictor(o: ServerPredictorOptions): ServerPredictor {
  const url = new URL(`v1/models/${encodeURIComponent(o.model)}/predict`, o.serverUrl.endsWith('/') ? o.serverUrl : `${o.serverUrl}/`).href;
  const f = o.fetch ?? fetch.bind(globalThis);
  return async (records) => {
    const body = JSON.stringify({ instances: records, ...(o.version !== undefined ? { version: o.version } : {}) });
    let res: Response;
    try {
      res = await f(url, { method: 'POST', headers: { 'content-type': 'application/json', ...o.headers }, body });
    } catch (e) {
      throw Errors.BACKEND_UNAVAILABLE(`the server at ${o.serverUrl} did not answer: ${(e as Error).message}`, { serverUrl: o.serverUrl });
    }
    const json = (await res.json().catch(() => null)) as Record<string, unknown> | null;
    if (!res.ok) throw serverError(res.status, json, o.serverUrl);
    const r = json as unknown as Omit<PredictResponse, 'backend'>;
    return { predictions: r.predictions, model: r.model, model_version: r.model_version, latency_ms: r.latency_ms, backend: 'server' };
  };
}

/** The server's `{error, code, details?}` as the same named error. */
function serverError(status: number, json: Record<string, unknown> | null, serverUrl: string): OmniserveError {
  const code = json?.['code'];
  const message = typeof json?.['error'] === 'string' ? json['error'] : `HTTP ${status}`;
  const details = (json?.['details'] ?? undefined) as Record<string, unknown> | undefined;
  if (typeof code === 'string' && Object.hasOwn(Errors, code)) return Errors[code as ErrorCode](message, details);
  return Errors.BACKEND_UNAVAILABLE(`the server at ${serverUrl} answered ${status}: ${message}`, { serverUrl, status });
}
