/**
 * `omniserve.json`: one file for the server, its models, feature store and cache. Validated
 * with valibot; every error names the path of the bad field. Environment variables
 * override secrets and URLs (see `applyEnv`).
 * @module
 */
import * as v from 'valibot';
import { Errors } from '../errors.ts';
import { formatIssues } from '../core/model-config.ts';
import { BACKEND_REQUESTS, type BackendRequest } from '../backends/registry.ts';

const PositiveInt = v.pipe(v.number(), v.integer(), v.minValue(1));
const NonNegInt = v.pipe(v.number(), v.integer(), v.minValue(0));
const Backend = v.picklist(BACKEND_REQUESTS as [string, ...string[]]);

const Batching = v.strictObject({
  maxBatchSize: v.optional(PositiveInt),
  maxDelayMs: v.optional(NonNegInt),
  maxQueueRows: v.optional(PositiveInt),
});

const ModelEntry = v.strictObject({
  name: v.optional(v.string()),
  /** Path or URL of the .onnx file. */
  path: v.pipe(v.string(), v.minLength(1)),
  version: v.optional(v.string()),
  /** Inline model config, or a path to one (default: `<model>.config.json` beside it). */
  config: v.optional(v.union([v.string(), v.record(v.string(), v.unknown())])),
  backend: v.optional(Backend),
  default: v.optional(v.boolean()),
  batching: v.optional(Batching),
  /**
   * onnxruntime intra-op threads. Default: 1 for models under 4 MiB (their runs take
   * microseconds; a spinning thread pool only competes with the HTTP server for cores),
   * one per core for larger ones (onnxruntime's own default used one thread on the 2-core
   * test machine), split between the worker threads of a model in worker threads.
   */
  threads: v.optional(PositiveInt),
  /**
   * Let onnxruntime's intra-op threads spin-wait between runs (default false in the server:
   * a spinning pool burned 10-20 % more CPU per request on the heavy MLP of bench/realtime,
   * CPU the event loop needed for the next requests' JSON, for no faster runs).
   */
  spinning: v.optional(v.boolean(), false),
  /**
   * Run this model in N worker threads (heavy models: the event loop never blocks). 0:
   * in-process. `auto` (default): one worker thread when a batch run takes long enough to hold
   * up other requests (runtimes/serve/auto-workers.ts), else in-process.
   */
  workers: v.optional(v.union([NonNegInt, v.literal('auto')]), 'auto'),
});

/** A feature store's client-side cache (`featureStore.clientCache`). */
const ClientCache = v.strictObject({
  maxEntries: v.optional(PositiveInt, 100_000),
  ttlMs: v.optional(PositiveInt, 60_000),
});

const FeatureStore = v.variant('kind', [
  v.strictObject({
    kind: v.literal('memory'),
    /** JSON, JSON lines, CSV or Parquet rows. */
    path: v.optional(v.string()),
    keyColumn: v.optional(v.string(), 'id'),
    prefix: v.optional(v.string(), 'user'),
  }),
  v.strictObject({
    kind: v.literal('redis'),
    url: v.optional(v.string()),
    /**
     * Server-assisted client-side caching: hashes read stay in memory until Redis reports a
     * change (CLIENT TRACKING), at most `ttlMs`, at most `maxEntries` keys. Off when absent.
     */
    clientCache: v.optional(ClientCache),
  }),
  v.strictObject({
    kind: v.literal('upstash'),
    url: v.optional(v.string()),
    token: v.optional(v.string()),
    /**
     * Hashes read stay in memory for `ttlMs` (REST has no invalidation: a hash written
     * elsewhere may be served up to `ttlMs` old), at most `maxEntries` keys. Off when absent.
     */
    clientCache: v.optional(ClientCache),
  }),
  v.strictObject({ kind: v.literal('none') }),
]);

const Cache = v.variant('kind', [
  v.strictObject({ kind: v.literal('none') }),
  v.strictObject({ kind: v.literal('memory'), ttlMs: v.optional(PositiveInt, 60_000), maxEntries: v.optional(PositiveInt, 10_000) }),
  v.strictObject({ kind: v.literal('redis'), ttlMs: v.optional(PositiveInt, 60_000), url: v.optional(v.string()) }),
]);

/** The async job queue (`POST /predict/async`). */
const Queue = v.strictObject({
  /** `memory`: one process, lost on restart (embedded default). `redis`: Redis Streams, shared by workers anywhere. */
  kind: v.optional(v.picklist(['memory', 'redis']), 'memory'),
  url: v.optional(v.string()),
  /** Job records and idempotency keys expire this long after their last change. */
  ttlSeconds: v.optional(PositiveInt, 86_400),
  /** A job held this long by a silent worker is handed to another. */
  claimIdleMs: v.optional(PositiveInt, 30_000),
  /** Deliveries before a job is failed for good and dead-lettered. */
  maxDeliveries: v.optional(PositiveInt, 5),
  /** Run a worker inside `omniserve serve` (turn off when `omniserve worker` processes do the work). */
  inProcessWorker: v.optional(v.boolean(), true),
  /** Jobs one worker holds in flight at most (claims top up to this). */
  workerConcurrency: v.optional(PositiveInt, 256),
  /** Deadline of one job's model run, queueing included. */
  jobTimeoutMs: v.optional(PositiveInt, 30_000),
});

/** Kinds of callback address the SSRF guard lets through; all off (public addresses only). */
const WebhookAllow = v.strictObject({
  loopback: v.optional(v.boolean()),
  private: v.optional(v.boolean()),
  linkLocal: v.optional(v.boolean()),
  /** Host names allowed whatever they resolve to; `*.example.com` matches subdomains. */
  hosts: v.optional(v.array(v.pipe(v.string(), v.minLength(1)))),
  /** Address ranges allowed whatever their kind, e.g. `10.20.0.0/16`. */
  cidrs: v.optional(v.array(v.pipe(v.string(), v.minLength(1)))),
});

/** Signed deliveries of async job results to `callback_url` (Standard Webhooks). */
const Webhooks = v.pipe(v.strictObject({
  /**
   * `whsec_<base64>` or a raw string (OMNISERVE_WEBHOOK_SECRET overrides). Without one,
   * a `callback_url` is refused at submit: webhooks are never sent unsigned.
   */
  secret: v.optional(v.pipe(v.string(), v.minLength(1))),
  /** Per-attempt deadline. */
  timeoutMs: v.optional(PositiveInt, 5_000),
  /** Attempts before a delivery is given up. */
  maxAttempts: v.optional(PositiveInt, 8),
  /** First retry waits up to this long (full jitter); each further one doubles it. */
  baseDelayMs: v.optional(NonNegInt, 1_000),
  /** The longest wait between attempts. */
  maxDelayMs: v.optional(PositiveInt, 3_600_000),
  /**
   * How long a worker holds a claimed delivery before another may take it (a worker killed
   * mid-delivery is covered by the next one after this). Default 2 × timeoutMs + 10 s.
   */
  leaseMs: v.optional(PositiveInt),
  allow: v.optional(WebhookAllow, {}),
}), v.check((w) => w.leaseMs === undefined || w.leaseMs > w.timeoutMs,
  'leaseMs must exceed timeoutMs, or a slow attempt and its retry by another worker could overlap'));

/** The whole config file. */
export const ServerConfigSchema = v.strictObject({
  $schema: v.optional(v.string()),
  server: v.optional(v.strictObject({
    port: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65535)), 8080),
    host: v.optional(v.string(), '0.0.0.0'),
    maxBodyBytes: v.optional(PositiveInt, 1 << 20),
    maxRecords: v.optional(PositiveInt, 10_000),
    requestTimeoutMs: v.optional(PositiveInt, 10_000),
    /** Graceful shutdown: longest wait for in-flight work after SIGTERM. */
    drainTimeoutMs: v.optional(PositiveInt, 15_000),
    apiKeys: v.optional(v.array(v.pipe(v.string(), v.minLength(8)))),
    corsOrigins: v.optional(v.array(v.string())),
    /** Model management routes: POST /admin/models, PUT …/default, DELETE …/versions/{v}. */
    admin: v.optional(v.boolean(), false),
    /** Processes/threads serving HTTP (Node cluster, Bun reusePort, Deno --parallel); 0 = one per core. */
    workers: v.optional(NonNegInt, 1),
  }), {}),
  backend: v.optional(Backend, 'auto'),
  models: v.pipe(v.array(ModelEntry), v.minLength(1, 'at least one model is needed')),
  defaultModel: v.optional(v.string()),
  featureStore: v.optional(FeatureStore, { kind: 'none' }),
  cache: v.optional(Cache, { kind: 'none' }),
  batching: v.optional(Batching, {}),
  /** A `user_id`/`item_id` missing from the store: 404 (`error`) or go on with model defaults. */
  missingEntity: v.optional(v.picklist(['error', 'defaults']), 'error'),
  queue: v.optional(Queue, {}),
  webhooks: v.optional(Webhooks, {}),
});

export type ServerConfig = v.InferOutput<typeof ServerConfigSchema>;
export type ModelEntryConfig = v.InferOutput<typeof ModelEntry>;

/** Validates a parsed config file; INVALID_CONFIG lists every bad field by path. */
export function parseServerConfig(input: unknown, where = 'omniserve.json'): ServerConfig {
  const r = v.safeParse(ServerConfigSchema, input);
  if (r.success) return r.output;
  const issues = formatIssues(r.issues);
  throw Errors.INVALID_CONFIG(`${where}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, { issues });
}

/** Environment overrides: URLs and secrets never need to live in the file. */
export function applyEnv(cfg: ServerConfig, env: Readonly<Record<string, string | undefined>>): ServerConfig {
  const out = structuredClone(cfg);
  if (env['PORT']) out.server.port = Number(env['PORT']);
  if (env['OMNISERVE_API_KEYS']) out.server.apiKeys = env['OMNISERVE_API_KEYS'].split(',').map((s) => s.trim()).filter(Boolean);
  const fs = out.featureStore;
  if (fs.kind === 'redis' && env['REDIS_URL']) fs.url = env['REDIS_URL'];
  if (fs.kind === 'upstash') {
    fs.url = env['UPSTASH_REDIS_REST_URL'] ?? fs.url;
    fs.token = env['UPSTASH_REDIS_REST_TOKEN'] ?? fs.token;
  }
  if (out.cache.kind === 'redis' && env['REDIS_URL']) out.cache.url = env['REDIS_URL'];
  if (out.queue.kind === 'redis' && env['REDIS_URL']) out.queue.url = env['REDIS_URL'];
  if (env['OMNISERVE_WEBHOOK_SECRET']) out.webhooks.secret = env['OMNISERVE_WEBHOOK_SECRET'];
  if (env['OMNISERVE_BACKEND']) out.backend = env['OMNISERVE_BACKEND'] as BackendRequest;
  return out;
}
