/**
 * The feature store over Upstash's Redis REST API (`@upstash/redis`), for hosts without TCP
 * sockets (Cloudflare Workers, the browser) and anywhere else `fetch` is all there is.
 * getMany sends one `/pipeline` of HGETALLs per tick, however many requests asked.
 * @module
 */
// The Cloudflare entry is the Web-API-only one: the default (Node) entry polyfills `atob`
// with Buffer and reads process.env.
import { Redis } from '@upstash/redis/cloudflare';
import { Errors, messageOf } from '../errors.ts';
import { cachedGetMany, createClientCache, type ClientCache, type ClientCacheOptions } from './client-cache.ts';
import { createCoalescer, type CoalescerOptions, type CoalescerStats } from './coalesce.ts';
import { toHashFields, type FeatureStore, type FeatureValues } from './types.ts';

/** Options for {@link createUpstashFeatureStore}. */
export interface UpstashStoreOptions {
  /** REST URL, e.g. `https://eu1-x.upstash.io` or an `omniserve redis-rest` gateway. */
  url: string;
  token: string;
  /** Prepended to every key (default none). */
  keyPrefix?: string;
  /** Per-request deadline (default 1,000 ms). */
  timeoutMs?: number;
  /**
   * Retries after a network failure (default 1). @upstash/redis's own default is 5 with
   * exponential backoff, over 4 s before an outage surfaces: too slow for a request path.
   */
  retries?: number;
  /** How lookups are batched (default: per microtask turn; servers pass SERVER_COALESCING). */
  coalescing?: CoalescerOptions;
  /**
   * Keep hashes read in memory for `ttlMs` (at most `maxEntries` keys). REST has no
   * invalidation channel, so a hash written elsewhere may be served up to `ttlMs` old;
   * writes through this store (`setMany`) are seen at once. Off by default.
   */
  clientCache?: ClientCacheOptions;
}

/** A {@link FeatureStore} over Upstash REST; `stats.flushes` counts pipeline requests. */
export interface UpstashFeatureStore extends FeatureStore {
  readonly kind: 'upstash';
  readonly stats: Readonly<CoalescerStats>;
  /** The client-side cache, with `clientCache`. */
  readonly clientCache?: ClientCache;
}

type Slot = FeatureValues | null | Error;

/** Creates the store; no request is made until the first call. */
export function createUpstashFeatureStore(options: UpstashStoreOptions): UpstashFeatureStore {
  const { url, token, keyPrefix = '', timeoutMs = 1_000, retries = 1, coalescing } = options;
  const cache = options.clientCache ? createClientCache(options.clientCache) : undefined;
  if (!/^https?:\/\//.test(url) || !token) {
    throw Errors.INVALID_CONFIG('the Upstash feature store needs an http(s) url and a token', { url });
  }
  const redis = new Redis({
    url,
    token,
    // Raw strings, as the Redis TCP driver returns them; the default would JSON-parse values
    // ("1" → 1 but "0.5" stays text, '{"a":1}' → an object).
    automaticDeserialization: false,
    // We batch across getMany calls ourselves; its Proxy-based batching would split ours.
    enableAutoPipelining: false,
    enableTelemetry: false,
    retry: { retries, backoff: () => 50 },
    signal: () => AbortSignal.timeout(timeoutMs),
  });

  const unavailable = (e: unknown) =>
    Errors.FEATURE_STORE_UNAVAILABLE(`the Upstash feature store at ${url} failed: ${messageOf(e)}`, { store: 'upstash' }, e);

  const loader = createCoalescer<Slot>(async (keys) => {
    const pipeline = redis.pipeline();
    for (const k of keys) pipeline.hgetall(keyPrefix + k);
    let replies: { result?: unknown; error?: string }[];
    try {
      replies = await pipeline.exec({ keepErrors: true });
    } catch (e) {
      throw unavailable(e);
    }
    return replies.map((r, i) => (r.error ? unavailable(`${keys[i]}: ${r.error}`) : toValues(r.result)));
  }, coalescing);

  return {
    kind: 'upstash',
    stats: loader.stats,
    ...(cache ? { clientCache: cache } : {}),
    // The loader rejects a call when one of its keys came back as an error.
    getMany: cachedGetMany(cache, (keys) => loader.load(keys)),
    async setMany(entries) {
      if (entries.length === 0) return;
      // One transaction: readers never see a hash half replaced.
      const tx = redis.multi();
      for (const [key, values] of entries) {
        tx.del(keyPrefix + key);
        const fields = toHashFields(values);
        if (Object.keys(fields).length > 0) tx.hset(keyPrefix + key, fields);
      }
      try {
        await tx.exec();
      } catch (e) {
        throw unavailable(e);
      } finally {
        // Read your own writes.
        cache?.invalidate(entries.map(([key]) => key));
      }
    },
    async ping() {
      try {
        return (await redis.ping()) === 'PONG';
      } catch {
        return false;
      }
    },
    async close() {
      // Stateless HTTP: nothing held open.
    },
  };
}

/** HGETALL's flat `[field, value, …]` reply → a hash, or null for a missing key. */
function toValues(reply: unknown): FeatureValues | null {
  if (!Array.isArray(reply) || reply.length === 0) return null;
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = String(reply[i + 1]);
  return out;
}
