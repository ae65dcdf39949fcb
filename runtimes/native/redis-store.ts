/**
 * The feature store over Redis TCP (ioredis), for Node, Bun and Deno. getMany is one
 * script call doing every HGETALL and answering in one separated string; concurrent calls
 * in the same tick share one call.
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
import { createCoalescer, SERVER_COALESCING, type CoalescerStats } from '../../src/features/coalesce.ts';
import { toHashFields, type FeatureStore, type FeatureValues } from '../../src/features/types.ts';

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
}

/** A {@link FeatureStore} over Redis TCP; `stats.flushes` counts pipelines sent. */
export interface RedisFeatureStore extends FeatureStore {
  readonly kind: 'redis';
  readonly stats: Readonly<CoalescerStats>;
  /** The underlying connection, for tests and for sharing with other Redis users. */
  readonly client: Redis;
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

  // One EVALSHA per coalesced batch, answered with ONE string: each hash as its field count
  // and flat HGETALL reply joined by \x1f, the hashes joined by \x1e. ioredis spends ~20-40 µs
  // of CPU per command object and parses every bulk string of a reply in JavaScript (60 per
  // 30-feature lookup), and JSON.parse of a JSON answer interned all 60 strings (~35 µs per
  // lookup of client CPU); two native `split`s cost ~14 µs (bench/realtime/redis-lookup.ts
  // measures the ways side by side, client and Redis CPU). Neither side converts numbers:
  // converting inside Lua cost Redis 60-100 µs of CPU per lookup against 20-30 µs without
  // (Redis shares the cores with the server), and in JavaScript it is left to the feature
  // check. A missing key is an empty part; an error about one key (WRONGTYPE, via pcall) is
  // "!" and the message, so it fails only the calls that asked for that key. Field counts
  // guard the separators: a value holding \x1e or \x1f (Redis values are any bytes) makes
  // more parts than counted, and those keys are read again through the JSON form.
  client.defineCommand('omniserveHgetallSep', {
    lua: `local out = {}
for i, k in ipairs(KEYS) do
  local r = redis.pcall('HGETALL', k)
  if type(r) == 'table' and r.err then out[i] = '!' .. r.err
  elseif #r == 0 then out[i] = ''
  else out[i] = #r .. '\\31' .. table.concat(r, '\\31') end
end
return table.concat(out, '\\30')`,
  });
  client.defineCommand('omniserveHgetallJson', {
    lua: `local out = {}
for i, k in ipairs(KEYS) do
  local r = redis.pcall('HGETALL', k)
  if type(r) == 'table' and r.err then out[i] = 'ERR ' .. r.err
  elseif #r == 0 then out[i] = false
  else out[i] = r end
end
return cjson.encode(out)`,
  });
  const scripts = client as unknown as {
    omniserveHgetallSep(n: number, ...keys: string[]): Promise<string>;
    omniserveHgetallJson(n: number, ...keys: string[]): Promise<string>;
  };

  const viaJson = async (keys: readonly string[]): Promise<Slot[]> => {
    const replies = JSON.parse(await scripts.omniserveHgetallJson(keys.length, ...keys)) as (string[] | false | string)[];
    return replies.map((reply, i) => {
      if (reply === false) return null;
      if (typeof reply === 'string') return unavailable(`${keys[i]}: ${reply.slice(4)}`);
      return hashOf(reply);
    });
  };

  const loader = createCoalescer<Slot>(async (keys) => {
    usable();
    try {
      const parts = (await scripts.omniserveHgetallSep(keys.length, ...keys)).split('\x1e');
      if (parts.length !== keys.length) return await viaJson(keys);
      const out: Slot[] = new Array(parts.length);
      let odd: number[] | undefined;
      for (let i = 0; i < parts.length; i++) {
        const part = parts[i]!;
        if (part === '') out[i] = null;
        else if (part.charCodeAt(0) === 33 /* ! */) out[i] = unavailable(`${keys[i]}: ${part.slice(1)}`);
        else {
          const flat = part.split('\x1f');
          if (Number(flat[0]) === flat.length - 1) out[i] = hashOf(flat, 1);
          else (odd ??= []).push(i);
        }
      }
      if (odd) {
        const again = await viaJson(odd.map((i) => keys[i]!));
        odd.forEach((i, j) => (out[i] = again[j]!));
      }
      return out;
    } catch (e) {
      throw unavailable(e);
    }
  }, SERVER_COALESCING);

  return {
    kind: 'redis',
    stats: loader.stats,
    client,
    async getMany(keys) {
      const slots = await loader.load(keys);
      for (const s of slots) if (s instanceof Error) throw s;
      return slots as (FeatureValues | null)[];
    },
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

/**
 * A flat HGETALL reply as an object of the strings Redis holds, as the Upstash driver gives
 * them: the feature check converts the model's features (one `Number()` each, with named
 * errors), and nothing else is touched. Converting every field here cost ~6 µs per 30-field
 * hash in isolation and ~10 µs under load, twice per lookup; building the object costs <1.
 */
export function hashOf(flat: readonly string[], from = 0): FeatureValues {
  const h: Record<string, string> = {};
  for (let j = from; j < flat.length; j += 2) h[flat[j]!] = flat[j + 1]!;
  return h;
}
