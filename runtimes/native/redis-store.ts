/**
 * The feature store over Redis TCP, for Node, Bun and Deno. getMany is one pipelined write
 * of HGETALLs on the reader's own connection (redis-hash-reader.ts); concurrent calls in the
 * same turn share it. Writes, PING and connection health are ioredis's.
 *
 * Why our coalescing queue (src/features/coalesce.ts) and not ioredis enableAutoPipelining:
 * measured with 64 concurrent getMany callers against a loopback redis-server (1,000
 * hashes of 10 fields, Node 20, a busy 2-core machine, so ±30% between runs):
 *
 *   strategy                   writes/round  HGETALL/round  rounds/s (1 key/call | 10 keys/call)
 *   pipeline per call                    64            = asked    310-470 | 60-93
 *   enableAutoPipelining                  1            = asked    744-896 | 51-88
 *   coalesce queue (this file)            1        distinct only  591-886 | 62-88
 *   random keys, 10/call:  auto-pipelining 640 HGETALL/round, 57 rounds/s;
 *                          coalesce queue  473 HGETALL/round, 120 rounds/s
 *
 * Both cut round trips 64 → 1 and run at the same speed on distinct keys; the queue also
 * asks for a key once when concurrent requests share it (popular items), gives the same
 * code path as the Upstash driver, and counts its round trips (`stats.flushes`).
 * @module
 */
import { Redis, type RedisOptions } from 'ioredis';
import { Errors, messageOf } from '../../src/errors.ts';
import { createHashReader } from './redis-hash-reader.ts';
import { createCoalescer, SERVER_COALESCING, type CoalescerStats } from '../../src/features/coalesce.ts';
import { toHashFields, type FeatureStore, type FeatureValues } from '../../src/features/types.ts';
import { cachedGetMany, createClientCache, type ClientCache, type ClientCacheOptions } from '../../src/features/client-cache.ts';

/** Options for {@link createRedisFeatureStore}. */
export interface RedisStoreOptions {
  /** `redis://[user:pass@]host:port[/db]` (or `rediss://`). */
  url: string;
  /** Prepended to every key by ioredis (default none). */
  keyPrefix?: string;
  /** Give up on a connection attempt after this long (default 1,000 ms). */
  connectTimeoutMs?: number;
  /** Fail a command with no reply after this long (default 1,000 ms). */
  commandTimeoutMs?: number;
  /**
   * Keep hashes read in this process's memory until Redis says they changed (server-assisted
   * client-side caching: `CLIENT TRACKING` on a second connection), at most `ttlMs`, at most
   * `maxEntries` keys. Off by default.
   */
  clientCache?: ClientCacheOptions;
}

/** A {@link FeatureStore} over Redis TCP; `stats.flushes` counts pipelines sent. */
export interface RedisFeatureStore extends FeatureStore {
  readonly kind: 'redis';
  readonly stats: Readonly<CoalescerStats>;
  /** The underlying connection, for tests and for sharing with other Redis users. */
  readonly client: Redis;
  /** The client-side cache, with `clientCache`. */
  readonly clientCache?: ClientCache;
}

type Slot = FeatureValues | null | Error;

/**
 * Creates the store. It connects on first use; until the first connection the first calls
 * wait (at most `connectTimeoutMs`); after that, while Redis is unreachable, every call
 * fails at once with FEATURE_STORE_UNAVAILABLE and the client keeps reconnecting (at most
 * a second apart), so the store heals by itself when Redis comes back.
 */
export function createRedisFeatureStore(options: RedisStoreOptions): RedisFeatureStore {
  const { url, keyPrefix, connectTimeoutMs = 1_000, commandTimeoutMs = 1_000 } = options;
  const where = redactUrl(url);
  const client = new Redis(url, redisClientOptions({ keyPrefix, connectTimeoutMs, commandTimeoutMs }));
  let everReady = false;
  let lastError = '';
  client.on('ready', () => { everReady = true; lastError = ''; });
  // Without a listener ioredis prints every failed reconnect; keep the reason for messages.
  client.on('error', (e: unknown) => { lastError = messageOf(e); });

  const unavailable = (e?: unknown) => Errors.FEATURE_STORE_UNAVAILABLE(
    `the Redis feature store at ${where} is unavailable: ${e === undefined ? lastError || client.status : messageOf(e)}`,
    { store: 'redis' }, e);

  const usable = (): void => {
    // Fail fast during an outage instead of queueing behind the next reconnect attempt.
    if (everReady && client.status !== 'ready') throw unavailable();
  };

  // Reads go through their own pipelined connection (redis-hash-reader.ts says why); the
  // ioredis client does writes and PING, and its status tells an outage: while it is
  // reconnecting, reads fail at once instead of each waiting for a connect of their own.
  const cache = options.clientCache ? createClientCache(options.clientCache) : undefined;
  const reader = createHashReader({
    url, keyPrefix, connectTimeoutMs, commandTimeoutMs,
    ...(cache ? { onInvalidate: (keys: string[] | null) => cache.invalidate(keys) } : {}),
  });
  const loader = createCoalescer<Slot>(async (keys) => {
    usable();
    if (client.status === 'wait') client.connect().catch(() => {});
    let replies;
    try {
      replies = await reader.hgetall(keys);
    } catch (e) {
      throw unavailable(e);
    }
    // An error about one key (WRONGTYPE) fails only the calls that asked for that key.
    return replies.map((r, i) => (r instanceof Error ? unavailable(`${keys[i]}: ${r.message}`) : r));
  }, SERVER_COALESCING);

  return {
    kind: 'redis',
    stats: loader.stats,
    client,
    ...(cache ? { clientCache: cache } : {}),
    // The loader rejects a call when one of its keys came back as an error.
    getMany: cachedGetMany(cache, (keys) => loader.load(keys)),
    async setMany(entries) {
      if (entries.length === 0) return;
      usable();
      // One transaction: readers never see a hash half replaced.
      const tx = client.multi();
      for (const [key, values] of entries) {
        tx.del(key);
        const fields = toHashFields(values);
        if (Object.keys(fields).length > 0) tx.hset(key, fields);
      }
      try {
        const results = await tx.exec();
        const failed = results?.find(([err]) => err !== null);
        if (failed) throw failed[0];
      } catch (e) {
        throw unavailable(e);
      } finally {
        // Read your own writes: Redis's invalidation of these keys may come after the next read.
        cache?.invalidate(entries.map(([key]) => key));
      }
    },
    async ping() {
      try {
        if (everReady && client.status !== 'ready') return false;
        return (await client.ping()) === 'PONG';
      } catch {
        return false;
      }
    },
    async close() {
      reader.close();
      await quit(client);
    },
  };
}

/**
 * ioredis settings that make an outage an error within about a second instead of a hang:
 * no retries per command, a command deadline, a connect deadline, reconnects every ≤ 1 s.
 * The offline queue stays on only so calls made while the first connection is opening wait
 * for it; `maxRetriesPerRequest: 0` flushes that queue at the first failed attempt.
 */
export function redisClientOptions(o: { keyPrefix?: string; connectTimeoutMs: number; commandTimeoutMs: number }): RedisOptions {
  return {
    lazyConnect: true,
    keyPrefix: o.keyPrefix,
    connectTimeout: o.connectTimeoutMs,
    commandTimeout: o.commandTimeoutMs,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    retryStrategy: (attempt: number) => Math.min(50 * 2 ** attempt, 1_000),
  };
}

/** Closes politely, or drops the socket when Redis is not there to answer QUIT. */
export async function quit(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}
