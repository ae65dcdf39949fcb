/**
 * The Cloudflare Workers handler: the same assembly as `runtimes/serve/build-server.ts`
 * (engine, models, feature store, cache, metrics, Serving, the Hono app) with Web APIs
 * only: models come as bundled Data modules instead of files, features over Upstash REST
 * instead of Redis TCP, and onnxruntime-web's WASM from a CompiledWasm module.
 *
 * Built once per isolate, on the first request (bindings only arrive with a request); the
 * build is one shared promise, so concurrent first requests wait for the same build.
 * @module
 */
import { createEngine, type Engine } from '../../src/engine.ts';
import { detectHost } from '../../src/backends/host.ts';
import type { OrtModule } from '../../src/backends/onnxruntime.ts';
import { createApp } from '../../src/http/app.ts';
import { createUpstashFeatureStore } from '../../src/features/upstash-store.ts';
import { createUpstashQueue } from '../../src/queue/upstash-queue.ts';
import type { JobIntake } from '../../src/queue/types.ts';
import type { FeatureStore } from '../../src/features/types.ts';
import { createMemoryCache } from '../../src/cache/memory-cache.ts';
import { MetricsRegistry } from '../../src/metrics/registry.ts';
import { countFeatureCache, createServingMetrics } from '../../src/metrics/serving-metrics.ts';
import { Serving, type BatchingOptions } from '../../src/serving/serving.ts';
import { Errors, isOmniserveError, messageOf } from '../../src/errors.ts';
import { checkMemoryBudget } from './memory-budget.ts';
import { createPrecompiledWasmBackend } from './precompiled-wasm.ts';

/** One model the build script bundled. */
export interface BundledModel {
  /** The module's file name, e.g. `breast-cancer.onnx` (the model name when the config has none). */
  readonly file: string;
  /** The Data module: the .onnx bytes. */
  readonly bytes: ArrayBuffer;
  /** The model config (its `<model>.config.json`), or undefined. */
  readonly config?: unknown;
}

/** What the bundle supplies. */
export interface WorkerBundle {
  /** `ort-wasm-simd-threaded.wasm`, imported as a CompiledWasm module. */
  readonly wasm: WebAssembly.Module;
  /** onnxruntime-web's WASM build with the emscripten glue embedded. */
  readonly loadOrt: () => Promise<OrtModule>;
  /** The models, in load order; the first is `/predict`'s default. */
  readonly models: readonly BundledModel[];
}

/**
 * Bindings (`[vars]` and secrets in wrangler.toml). All optional; numbers are decimal
 * strings, lists comma-separated.
 */
export interface WorkerEnv {
  /** Upstash REST URL and token: the feature store (none when unset). */
  readonly UPSTASH_REDIS_REST_URL?: string;
  readonly UPSTASH_REDIS_REST_TOKEN?: string;
  /** Bearer keys; when set, every route but health and metrics needs one. */
  readonly OMNISERVE_API_KEYS?: string;
  readonly OMNISERVE_CORS_ORIGINS?: string;
  /** Largest request body (bytes), default 1 MiB. */
  readonly OMNISERVE_MAX_BODY_BYTES?: string;
  /** Most records per request, default 10,000. */
  readonly OMNISERVE_MAX_RECORDS?: string;
  /** Prediction cache TTL (ms), default 60,000; 0 turns the cache off. */
  readonly OMNISERVE_CACHE_TTL_MS?: string;
  /**
   * Feature hashes kept in the isolate's memory for this long (ms; unset or 0: off). Upstash
   * REST has no invalidation, so a hash written elsewhere may be served this old.
   */
  readonly OMNISERVE_FEATURE_CACHE_TTL_MS?: string;
  /** Most hashes that cache holds (default 10,000: an isolate has 128 MB). */
  readonly OMNISERVE_FEATURE_CACHE_MAX_ENTRIES?: string;
  /** `error` (404, default) or `defaults` for an id missing from the feature store. */
  readonly OMNISERVE_MISSING_ENTITY?: string;
  /**
   * `upstash`: serve `POST /predict/async` and `GET /predict/{id}` over the Upstash REST
   * database above, the same queue `omniserve worker` processes drain (`queue.kind: redis`
   * on that database). Unset: no async routes.
   */
  readonly OMNISERVE_QUEUE?: string;
  /** Queue key prefix (default `omniserve:`, the workers' default) and job TTL (s, default 86,400). */
  readonly OMNISERVE_QUEUE_PREFIX?: string;
  readonly OMNISERVE_JOB_TTL_SECONDS?: string;
  readonly [binding: string]: unknown;
}

/** The part of the Workers ExecutionContext Hono takes. */
export interface WorkerContext {
  waitUntil(promise: Promise<unknown>): void;
  passThroughOnException(): void;
  /** Service-binding props (empty for plain HTTP). */
  readonly props: unknown;
}

/** A module Worker's default export. */
export interface WorkerHandler {
  fetch(request: Request, env: WorkerEnv, ctx: WorkerContext): Promise<Response>;
}

/** What one isolate built. */
interface Built {
  readonly engine: Engine;
  readonly app: ReturnType<typeof createApp>;
}

/** A decimal integer binding, or INVALID_CONFIG naming it. */
function intVar(env: WorkerEnv, name: keyof WorkerEnv & string, min: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (typeof raw !== 'string' || !Number.isInteger(n) || n < min) {
    throw Errors.INVALID_CONFIG(`${name}: expected an integer ≥ ${min}, got ${JSON.stringify(raw)}`, { path: name });
  }
  return n;
}

const listVar = (v: unknown) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : []);

function featureStoreFrom(env: WorkerEnv, onCacheLookup: (hits: number, misses: number) => void): FeatureStore | undefined {
  const url = env.UPSTASH_REDIS_REST_URL;
  const token = env.UPSTASH_REDIS_REST_TOKEN;
  if (!url && !token) return undefined;
  if (!url || !token) {
    throw Errors.INVALID_CONFIG('UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN go together: set both or neither',
      { path: url ? 'UPSTASH_REDIS_REST_TOKEN' : 'UPSTASH_REDIS_REST_URL' });
  }
  const cacheTtl = intVar(env, 'OMNISERVE_FEATURE_CACHE_TTL_MS', 0) ?? 0;
  const clientCache = cacheTtl > 0
    ? { ttlMs: cacheTtl, maxEntries: intVar(env, 'OMNISERVE_FEATURE_CACHE_MAX_ENTRIES', 1) ?? 10_000, onLookup: onCacheLookup }
    : undefined;
  return createUpstashFeatureStore({ url, token, ...(clientCache ? { clientCache } : {}) });
}

/** The async queue's intake, when OMNISERVE_QUEUE asks for one. */
function queueFrom(env: WorkerEnv): JobIntake | undefined {
  const kind = env.OMNISERVE_QUEUE;
  if (kind === undefined || kind === '') return undefined;
  if (kind !== 'upstash') {
    throw Errors.INVALID_CONFIG(`OMNISERVE_QUEUE: only "upstash" on Workers, got ${JSON.stringify(kind)}`, { path: 'OMNISERVE_QUEUE' });
  }
  const url = env.UPSTASH_REDIS_REST_URL;
  const token = env.UPSTASH_REDIS_REST_TOKEN;
  if (!url || !token) {
    throw Errors.INVALID_CONFIG('OMNISERVE_QUEUE=upstash needs UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN', { path: 'OMNISERVE_QUEUE' });
  }
  return createUpstashQueue({
    url, token, ...(env.OMNISERVE_QUEUE_PREFIX ? { prefix: env.OMNISERVE_QUEUE_PREFIX } : {}),
    ...(intVar(env, 'OMNISERVE_JOB_TTL_SECONDS', 1) !== undefined ? { ttlSeconds: intVar(env, 'OMNISERVE_JOB_TTL_SECONDS', 1)! } : {}),
  });
}

const modelName = (m: BundledModel) => {
  const n = (m.config as { name?: unknown } | undefined)?.name;
  return typeof n === 'string' ? n : m.file.replace(/\.onnx$/i, '');
};

async function build(bundle: WorkerBundle, env: WorkerEnv): Promise<Built> {
  if (bundle.models.length === 0) throw Errors.INVALID_CONFIG('the bundle holds no model');
  checkMemoryBudget(bundle.models.map((m) => ({ name: m.file, bytes: m.bytes.byteLength })));
  const missingEntity = env.OMNISERVE_MISSING_ENTITY ?? 'error';
  if (missingEntity !== 'error' && missingEntity !== 'defaults') {
    throw Errors.INVALID_CONFIG(`OMNISERVE_MISSING_ENTITY: "error" or "defaults", got ${JSON.stringify(missingEntity)}`,
      { path: 'OMNISERVE_MISSING_ENTITY' });
  }
  const ttl = intVar(env, 'OMNISERVE_CACHE_TTL_MS', 0) ?? 60_000;
  const maxBodyBytes = intVar(env, 'OMNISERVE_MAX_BODY_BYTES', 1);
  const maxRecords = intVar(env, 'OMNISERVE_MAX_RECORDS', 1);
  const registry = new MetricsRegistry();
  const metrics = createServingMetrics(registry);
  const features = featureStoreFrom(env, countFeatureCache(metrics));
  const queue = queueFrom(env);

  const host = detectHost(globalThis);
  // Only web-wasm: no WebGPU on Workers, and no native backend on any edge.
  const backend = createPrecompiledWasmBackend({ module: bundle.wasm, loadOrt: bundle.loadOrt });
  const engine = createEngine({ host, backends: [backend] }, { backend: 'web-wasm' });
  const perModel: Record<string, BatchingOptions> = {};
  try {
    for (const m of bundle.models) {
      try {
        // A view, not a copy: the Data module's buffer is the only JS-side copy we keep.
        const model = await engine.models.load({ source: new Uint8Array(m.bytes), name: modelName(m), config: m.config });
        perModel[model.name] = { maxBatchSize: model.config.maxBatchSize };
        metrics.modelLoads.inc({ model: model.name, result: 'ok' });
      } catch (e) {
        metrics.modelLoads.inc({ model: modelName(m), result: 'error' });
        throw e;
      }
    }
  } catch (e) {
    await engine.close();
    throw e;
  }
  const serving = new Serving(engine, {
    features,
    cache: ttl > 0 ? createMemoryCache({ maxEntries: 10_000 }) : undefined,
    cacheTtlMs: ttl > 0 ? ttl : undefined,
    metrics,
    perModelBatching: perModel,
    missingEntity,
  });
  const app = createApp({
    serving,
    metrics: { registry, serving: metrics },
    maxBodyBytes,
    maxRecords,
    apiKeys: listVar(env.OMNISERVE_API_KEYS),
    corsOrigins: listVar(env.OMNISERVE_CORS_ORIGINS),
    defaultModel: modelName(bundle.models[0]!),
    host,
    ...(queue ? { queue } : {}),
  });
  return { engine, app };
}

/** The answer to every request of an isolate whose start failed: JSON, no stack. */
function startFailure(e: unknown): Response {
  const code = isOmniserveError(e) ? e.code : 'BACKEND_UNAVAILABLE';
  return new Response(JSON.stringify({ error: `omniserve could not start: ${messageOf(e)}`, code }), {
    status: 503,
    headers: { 'content-type': 'application/json; charset=UTF-8', 'retry-after': '60' },
  });
}

/**
 * The module Worker for a bundle. A failed start is kept, not retried per request: it is
 * deterministic (model too large, bad bindings, WASM refused), and onnxruntime-web refuses
 * a second initialisation after a failed one anyway. A new isolate tries again.
 */
export function createWorker(bundle: WorkerBundle): WorkerHandler {
  let built: Promise<Built> | undefined;
  let reported = false;
  return {
    async fetch(request, env, ctx) {
      built ??= build(bundle, env);
      let b: Built;
      try {
        b = await built;
      } catch (e) {
        if (!reported) {
          reported = true;
          console.error(`omniserve: start failed: ${messageOf(e)}`);
        }
        return startFailure(e);
      }
      return b.app.fetch(request, env, ctx);
    },
  };
}
