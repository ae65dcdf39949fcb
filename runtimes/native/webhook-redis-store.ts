/**
 * A {@link WebhookStore} in Redis (ioredis), shared by every worker, so pending webhooks
 * survive restarts. Layout under `prefix`:
 *
 *   <prefix>due      sorted set: delivery id → ms when it next needs a worker
 *   <prefix>d:<id>   hash: the delivery (snake_case fields) plus `lease` while claimed
 *
 * Claiming is one Lua script: take due ids, bump `attempts`, set a fresh lease token and
 * re-score the id to the lease's expiry. So the due set doubles as the in-flight set: a
 * worker killed mid-delivery never reports, its lease runs out, and the id is due again
 * for any worker. Results are written only while the lease token still matches, so a late
 * worker cannot overwrite the outcome of the attempt that replaced it.
 *
 * The scripts touch keys built from the prefix (not only KEYS), so this is for one Redis
 * (or a Cluster with a `{hash tag}` in the prefix).
 * @module
 */
import { Redis } from 'ioredis';
import { messageOf } from '../../src/errors.ts';
import type { ClaimedDelivery, DeliveryUpdate, WebhookDelivery, WebhookState, WebhookStore } from '../../src/webhooks/types.ts';
import { quit, redisClientOptions } from './redis-store.ts';

/** Options for {@link createRedisWebhookStore}. */
export interface RedisWebhookStoreOptions {
  /** `redis://…`; or pass `client` to share a connection. */
  url?: string;
  client?: Redis;
  /** Key prefix (default `omniserve:webhooks:`). */
  prefix?: string;
  /** How long finished deliveries stay readable (default 7 days). */
  retainMs?: number;
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
}

const CLAIM = `
local out = {}
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  local key = ARGV[5] .. id
  if redis.call('HGET', key, 'status') == 'pending' then
    local attempts = redis.call('HINCRBY', key, 'attempts', 1)
    redis.call('HSET', key, 'lease', ARGV[4] .. ':' .. attempts .. ':' .. id, 'next_attempt_at', ARGV[3])
    redis.call('ZADD', KEYS[1], ARGV[3], id)
    out[#out + 1] = redis.call('HGETALL', key)
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out`;

const COMPLETE = `
if redis.call('HGET', KEYS[2], 'lease') ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[2], 'lease', 'next_attempt_at', 'delivered_at', 'last_status', 'last_error')
for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
if ARGV[2] == 'pending' then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
else
  redis.call('ZREM', KEYS[1], ARGV[4])
end
return 1`;

const ADD = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
return 1`;

type Scripts = {
  webhookClaim(n: number, due: string, now: number, limit: number, leaseUntil: number, token: string, prefix: string): Promise<string[][]>;
  webhookComplete(n: number, due: string, key: string, lease: string, status: string, nextAt: string, id: string, ...fields: string[]): Promise<number>;
  webhookAdd(n: number, due: string, key: string, nextAt: number, id: string, ...fields: string[]): Promise<number>;
};

/** Creates the store; it connects on first use. */
export function createRedisWebhookStore(options: RedisWebhookStoreOptions): WebhookStore & { readonly client: Redis } {
  const { prefix = 'omniserve:webhooks:', retainMs = 7 * 24 * 3_600_000 } = options;
  const owned = options.client === undefined;
  if (owned && options.url === undefined) throw new TypeError('createRedisWebhookStore needs a url or a client');
  const client = options.client ?? new Redis(options.url!, redisClientOptions({
    connectTimeoutMs: options.connectTimeoutMs ?? 1_000, commandTimeoutMs: options.commandTimeoutMs ?? 1_000,
  }));
  // Without a listener ioredis prints every failed reconnect; callers see command errors.
  if (owned) client.on('error', () => {});
  client.defineCommand('webhookClaim', { lua: CLAIM });
  client.defineCommand('webhookComplete', { lua: COMPLETE });
  client.defineCommand('webhookAdd', { lua: ADD });
  const scripts = client as unknown as Scripts;
  const due = `${prefix}due`;
  const key = (id: string) => `${prefix}d:${id}`;
  // Lease tokens name the store instance, the claim, the attempt and the delivery.
  const token = crypto.randomUUID();
  let claims = 0;

  return {
    client,
    async add(d) {
      const fields = toFields(d);
      return (await scripts.webhookAdd(2, due, key(d.id), d.nextAttemptAt, d.id, ...fields)) === 1;
    },
    async claim(now, limit, leaseMs) {
      const rows = await scripts.webhookClaim(1, due, now, limit, now + leaseMs, `${token}:${++claims}`, `${prefix}d:`);
      return rows.map((pairs) => {
        const h = toHash(pairs);
        return { ...fromHash(h), lease: h.lease! } satisfies ClaimedDelivery;
      });
    },
    async complete(id, lease, update: DeliveryUpdate) {
      const fields = ['status', update.status];
      if (update.nextAttemptAt !== undefined) fields.push('next_attempt_at', String(update.nextAttemptAt));
      if (update.deliveredAt !== undefined) fields.push('delivered_at', String(update.deliveredAt));
      if (update.lastStatus !== undefined) fields.push('last_status', String(update.lastStatus));
      if (update.lastError !== undefined) fields.push('last_error', update.lastError);
      const ok = (await scripts.webhookComplete(2, due, key(id), lease, update.status, String(update.nextAttemptAt ?? 0), id, ...fields)) === 1;
      if (ok && update.status !== 'pending') await client.pexpire(key(id), retainMs);
      return ok;
    },
    async get(id) {
      const h = toHash(await client.hgetall(key(id)));
      return Object.keys(h).length === 0 ? null : fromHash(h);
    },
    async close() {
      if (owned) await quit(client);
    },
  };
}

function toFields(d: WebhookDelivery): string[] {
  const out = ['id', d.id, 'url', d.url, 'body', d.body, 'status', d.status, 'attempts', String(d.attempts), 'created_at', String(d.createdAt)];
  if (d.jobId !== undefined) out.push('job_id', d.jobId);
  if (d.nextAttemptAt !== undefined) out.push('next_attempt_at', String(d.nextAttemptAt));
  return out;
}

/** HGETALL (an object from ioredis, a flat array from scripts) → a plain record. */
function toHash(reply: Record<string, string> | string[]): Record<string, string> {
  if (!Array.isArray(reply)) return reply;
  const h: Record<string, string> = {};
  for (let i = 0; i + 1 < reply.length; i += 2) h[reply[i]!] = reply[i + 1]!;
  return h;
}

function fromHash(h: Record<string, string>): WebhookDelivery {
  const num = (k: string) => (h[k] === undefined ? undefined : Number(h[k]));
  const d: Record<string, unknown> = {
    id: h.id, url: h.url, body: h.body, status: h.status as WebhookState,
    attempts: Number(h.attempts ?? 0), createdAt: Number(h.created_at ?? 0),
    jobId: h.job_id, nextAttemptAt: num('next_attempt_at'), deliveredAt: num('delivered_at'),
    lastStatus: num('last_status'), lastError: h.last_error,
  };
  for (const k of Object.keys(d)) if (d[k] === undefined) delete d[k];
  if (typeof d.id !== 'string' || typeof d.url !== 'string') throw new Error(`corrupt webhook record: ${messageOf(h)}`);
  return d as unknown as WebhookDelivery;
}
