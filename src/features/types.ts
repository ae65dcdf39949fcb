/**
 * The feature store contract: hashes by key (`user:42`, `item:7`), read many at a time.
 * Drivers: memory (`memory-store.ts`), Upstash REST (`upstash-store.ts`) and Redis over TCP
 * (`runtimes/native/redis-store.ts`).
 * @module
 */

/**
 * One entity's features. Redis drivers return every value as a string (Redis hashes hold
 * strings); the record code coerces numeric strings, so callers need not care.
 */
export type FeatureValues = Readonly<Record<string, string | number | boolean | null>>;

/** A source of feature hashes. */
export interface FeatureStore {
  /** 'memory' | 'redis' | 'upstash'. */
  readonly kind: string;
  /**
   * Hashes by key ("user:42"); null where the key does not exist. One round trip per call;
   * concurrent calls coalesce where the driver can.
   */
  getMany(keys: readonly string[]): Promise<(FeatureValues | null)[]>;
  /**
   * Writes hashes (loading samples, tests, the redis-rest gateway's users). Each written
   * hash replaces the old one; null fields are left out (absent reads as missing).
   */
  setMany(entries: readonly (readonly [string, FeatureValues])[]): Promise<void>;
  /** Cheap liveness check for /health/ready; never throws. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Hash fields as Redis stores them: strings, null fields dropped. Booleans become "1"/"0"
 * because feature coercion reads numeric strings, and "true" would not be one.
 */
export function toHashFields(values: FeatureValues): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [field, v] of Object.entries(values)) {
    if (v === null || v === undefined) continue;
    out[field] = typeof v === 'boolean' ? (v ? '1' : '0') : String(v);
  }
  return out;
}
