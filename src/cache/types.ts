/**
 * The prediction cache contract: predictions by key (see `cache-key.ts`), with a TTL.
 * Drivers: memory (`memory-cache.ts`) and Redis (`runtimes/native/redis-cache.ts`).
 * @module
 */

/** A TTL cache of predictions. A cache never fails a request: drivers turn errors into misses. */
export interface PredictionCache {
  /** 'memory' | 'redis'. */
  readonly kind: string;
  /** The cached value, or undefined on a miss (absent, expired, or the cache is down). */
  get(key: string): Promise<unknown | undefined>;
  /** Stores a JSON-serialisable value for `ttlMs` milliseconds; a ttl ≤ 0 stores nothing. */
  set(key: string, value: unknown, ttlMs: number): Promise<void>;
  close(): Promise<void>;
}
