/**
 * The prediction cache over Redis TCP (ioredis): `SET key json PX ttl` and `GET`. A cache
 * must never fail a request, so every failure is a miss (get) or a no-op (set), logged once
 * per outage rather than once per request.
 * @module
 */
import { Redis } from 'ioredis';
import { messageOf } from '../../src/errors.ts';
import type { PredictionCache } from '../../src/cache/types.ts';
import { quit, redactUrl, redisClientOptions } from './redis-store.ts';

/** Options for {@link createRedisCache}. */
export interface RedisCacheOptions {
  url: string;
  /** Prepended to every key by ioredis (default none). */
  keyPrefix?: string;
  /** Give up on a connection attempt after this long (default 1,000 ms). */
  connectTimeoutMs?: number;
  /**
   * Treat a reply slower than this as a miss (default 250 ms): a cache lookup that takes
   * longer than the model would is no longer worth waiting for.
   */
  commandTimeoutMs?: number;
  /** Where the once-per-outage warning goes (default console.warn). */
  log?: (message: string) => void;
}

/** A {@link PredictionCache} over Redis; `client` is exposed for tests. */
export interface RedisPredictionCache extends PredictionCache {
  readonly kind: 'redis';
  readonly client: Redis;
}

/** Creates the cache; it connects on first use and reconnects by itself. */
export function createRedisCache(options: RedisCacheOptions): RedisPredictionCache {
  const { url, keyPrefix, connectTimeoutMs = 1_000, commandTimeoutMs = 250, log = console.warn } = options;
  const client = new Redis(url, redisClientOptions({ keyPrefix, connectTimeoutMs, commandTimeoutMs }));
  let everReady = false;
  let warned = false;
  client.on('ready', () => {
    everReady = true;
    warned = false;
  });
  client.on('error', () => {
    // Reported through failed commands below; the listener only keeps ioredis quiet.
  });
  const degrade = (op: string, e: unknown): void => {
    if (warned) return;
    warned = true;
    log(`omniserve: the Redis prediction cache at ${redactUrl(url)} failed (${op}: ${messageOf(e)}); serving without it until it is back`);
  };
  // During an outage, skip the round trip: it could only time out.
  const down = (): boolean => everReady && client.status !== 'ready';

  return {
    kind: 'redis',
    client,
    async get(key) {
      if (down()) {
        degrade('get', `connection ${client.status}`);
        return undefined;
      }
      try {
        const json = await client.get(key);
        return json === null ? undefined : JSON.parse(json);
      } catch (e) {
        degrade('get', e);
        return undefined;
      }
    },
    async set(key, value, ttlMs) {
      if (!(ttlMs > 0)) return;
      if (down()) {
        degrade('set', `connection ${client.status}`);
        return;
      }
      try {
        const json = JSON.stringify(value);
        if (json !== undefined) await client.set(key, json, 'PX', Math.max(1, Math.round(ttlMs)));
      } catch (e) {
        degrade('set', e);
      }
    },
    async close() {
      await quit(client);
    },
  };
}
