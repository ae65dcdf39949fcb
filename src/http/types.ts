/**
 * What the HTTP layer is built from. Hosts build these and call `createApp`.
 * @module
 */
import type { HostInfo } from '../backends/host.ts';
import type { MetricsRegistry } from '../metrics/registry.ts';
import type { ServingMetrics } from '../metrics/serving-metrics.ts';
import type { Serving } from '../serving/serving.ts';
import type { JobIntake } from '../queue/types.ts';
import type { WebhookStatus } from '../webhooks/dispatcher.ts';

/** Webhooks for async jobs (`callback_url`); without them a `callback_url` is refused. */
export interface AppWebhooks {
  /**
   * The SSRF guard, run on `callback_url` at submit: a refusal (see `refusalOf`) is a 422
   * now rather than a failed delivery later. Omit where the host has no DNS (Workers);
   * delivery checks again either way.
   */
  readonly check?: (url: string) => Promise<unknown>;
  /** The delivery status of a job's webhook (null: not enqueued yet), for `GET /predict/{id}`. */
  readonly status?: (jobId: string) => Promise<WebhookStatus | null>;
}

/** Options of the Hono app. */
export interface AppOptions {
  readonly serving: Serving;
  readonly metrics?: { readonly registry: MetricsRegistry; readonly serving: ServingMetrics };
  /** Largest request body accepted (bytes). Default 1 MiB. */
  readonly maxBodyBytes?: number;
  /**
   * Bodies declared at this many bytes or more are read chunk by chunk into one buffer of
   * their size instead of by the host's own reader. Which is faster depends on the host:
   * Deno's `arrayBuffer()` ties at 128-256 KiB and is 1.7-2.3× slower from 1 MiB; Node's and
   * Bun's tie or win at every size (bench/body; runtimes/serve/build-server.ts sets it per
   * host). Default: never.
   */
  readonly sizedBodyFrom?: number;
  /** Most records in one request. Default 10,000. */
  readonly maxRecords?: number;
  /** Deadline of a request, queueing included (ms). Default 10,000. */
  readonly requestTimeoutMs?: number;
  /** Bearer keys; when set, every route but health and metrics needs one. */
  readonly apiKeys?: readonly string[];
  /** CORS origins (`*` for any); unset: no CORS headers. */
  readonly corsOrigins?: readonly string[];
  /** The model `/predict` serves. Default: the first loaded. */
  readonly defaultModel?: string;
  /** Model management routes (`/admin/models…`); keep them behind `apiKeys` in production. */
  readonly admin?: boolean;
  /** The async job queue; when set, `POST /predict/async` and `GET /predict/{id}` are served. */
  readonly queue?: JobIntake;
  /** Set when a webhook secret is configured; see {@link AppWebhooks}. */
  readonly webhooks?: AppWebhooks;
  readonly host?: HostInfo;
  readonly version?: string;
}

/**
 * Context variables: handlers set `model`/`modelVersion` for the metrics middleware, which
 * sets `t0` (its performance.now() at the start) so handlers time the request from there
 * without reading the clock again (on Deno, a clock read is an op call: ~0.4 µs).
 */
export type AppEnv = { Variables: { model?: string; modelVersion?: string; t0?: number } };
