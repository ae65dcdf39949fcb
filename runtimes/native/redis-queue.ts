/**
 * The async job queue over Redis Streams (ioredis), for Node, Bun and Deno: any number of
 * servers and `omniserve worker` processes share it.
 *
 * - A job is a hash `{p}job:{id}` (static `meta` JSON, `status`, `attempts`, `updated_at`,
 *   `result`/`error` JSON) expiring `ttlSeconds` after its last change; its id goes on the
 *   stream `{p}jobs`, read by the consumer group `omniserve-workers`.
 * - A claim first takes entries other consumers held past `claimIdleMs` (XAUTOCLAIM: a
 *   worker that died after taking a job loses nothing), then new ones (XREADGROUP BLOCK).
 * - Every state change is one Lua script, so "store the result" and "XACK" happen together:
 *   a crash can only redeliver, never lose. A job already final is never overwritten (one
 *   final result even when two workers ran it).
 * - `attempts` counts starts; at `maxDeliveries` the job fails for good and its id goes to
 *   the dead-letter stream `{p}jobs:dead`. Acked entries are XDEL'd: XLEN is the depth.
 * @module
 */
import { Redis } from 'ioredis';
import { Errors, messageOf } from '../../src/errors.ts';
import {
  deliveryLimitError, QUEUE_DEFAULTS,
  type ClaimedJob, type ClaimOptions, type ClaimResult, type Finish, type JobError, type JobQueue,
  type JobRecord, type NewJob, type QueueSettings,
} from '../../src/queue/types.ts';
import { quit, redactUrl, redisClientOptions } from './redis-store.ts';
import { SCRIPTS } from '../../src/queue/redis-scripts.ts';
import { fieldOf, fromHash, queueKeys, submitCall } from '../../src/queue/redis-records.ts';

/** Options of {@link createRedisQueue}. */
export interface RedisQueueOptions extends QueueSettings {
  readonly url: string;
  /** Prefix of every key (default `omniserve:`). */
  readonly prefix?: string;
  /** Consumer group name (default `omniserve-workers`). */
  readonly group?: string;
  readonly connectTimeoutMs?: number;
  readonly commandTimeoutMs?: number;
}

/** The Redis queue; `client` is exposed for tests. */
export interface RedisJobQueue extends JobQueue {
  readonly kind: 'redis';
  readonly client: Redis;
  /** Key names, for tests and operators. */
  readonly keys: { readonly stream: string; readonly dead: string; job(id: string): string };
}

type Scripted = Redis & {
  omniserveJobSubmit(n: number, ...a: (string | number)[]): Promise<[string, number]>;
  omniserveJobStart(n: number, ...a: (string | number)[]): Promise<[string, string[] | null][]>;
  omniserveJobFinish(n: number, ...a: (string | number)[]): Promise<[number, string[]]>;
};

/** Creates the queue; connections open on first use. */
export function createRedisQueue(o: RedisQueueOptions): RedisJobQueue {
  const group = o.group ?? 'omniserve-workers';
  const ttl = o.ttlSeconds ?? QUEUE_DEFAULTS.ttlSeconds;
  const idleMs = o.claimIdleMs ?? QUEUE_DEFAULTS.claimIdleMs;
  const maxDeliveries = o.maxDeliveries ?? QUEUE_DEFAULTS.maxDeliveries;
  const connectTimeoutMs = o.connectTimeoutMs ?? 1_000;
  const commandTimeoutMs = o.commandTimeoutMs ?? 2_000;
  const k = queueKeys(o.prefix);
  const { stream, dead } = k;
  const jobKey = k.job;
  const where = redactUrl(o.url);
  const client = new Redis(o.url, redisClientOptions({ connectTimeoutMs, commandTimeoutMs })) as Scripted;
  // XREADGROUP BLOCK holds its connection: a second one, with a deadline past the block.
  let blocking: Redis | undefined;
  let lastError = '';
  client.on('error', (e: unknown) => { lastError = messageOf(e); });
  for (const [name, lua] of Object.entries(SCRIPTS)) client.defineCommand(name, { lua });
  let groupReady = false;
  let cursor = '0-0';

  const unavailable = (e: unknown) =>
    Errors.QUEUE_UNAVAILABLE(`the Redis job queue at ${where} is unavailable: ${messageOf(e) || lastError}`, { queue: 'redis' }, e);
  const guard = async <T>(f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (e) {
      throw unavailable(e);
    }
  };
  const ensureGroup = async () => {
    if (groupReady) return;
    try {
      await client.xgroup('CREATE', stream, group, '0', 'MKSTREAM');
    } catch (e) {
      if (!/BUSYGROUP/.test(messageOf(e))) throw e;
    }
    groupReady = true;
  };
  // Redis restarted empty (or someone deleted the stream): make the group again, once.
  const withGroup = async <T>(f: () => Promise<T>): Promise<T> => {
    await ensureGroup();
    try {
      return await f();
    } catch (e) {
      if (!/NOGROUP/.test(messageOf(e))) throw e;
      groupReady = false;
      await ensureGroup();
      return f();
    }
  };
  const now = () => new Date().toISOString();

  const finish = async (c: ClaimedJob, status: string, field: string, payload: string, requeue: boolean): Promise<Finish> => {
    const [stored, hash] = await guard(() =>
      client.omniserveJobFinish(2, jobKey(c.job.request_id), stream, group, c.token, status, field, payload, now(), ttl, requeue ? 1 : 0, c.job.request_id));
    const job = fromHash(hash) ?? { ...c.job, status: status as JobRecord['status'] };
    return { job, stored: stored === 1 };
  };

  return {
    kind: 'redis',
    client,
    maxDeliveries,
    keys: { stream, dead, job: jobKey },
    async submit(job: NewJob, opts = {}) {
      const call = submitCall(k, job, ttl, opts.idempotencyKey);
      const [rid, dup] = await guard(() => client.omniserveJobSubmit(call.keys.length, ...call.keys, ...call.args));
      return { request_id: rid, duplicate: dup === 1 };
    },
    async get(id) {
      return fromHash(await guard(() => client.hgetall(jobKey(id)).then(flatten)));
    },
    async claim(consumer, max, opts: ClaimOptions = {}): Promise<ClaimResult> {
      const entries: [string, string][] = [];
      let reclaimed = 0;
      await guard(() => withGroup(async () => {
        const [next, got] = (await client.xautoclaim(stream, group, consumer, idleMs, cursor, 'COUNT', max)) as [string, [string, string[]][]];
        cursor = next;
        for (const [eid, fields] of got) if (fields) entries.push([eid, fieldOf(fields, 'id')]);
        reclaimed = entries.length;
      }));
      if (entries.length < max && !opts.signal?.aborted) {
        const blockMs = entries.length > 0 ? 0 : (opts.blockMs ?? 1_000);
        blocking ??= makeBlocking(blockMs);
        const conn = blockMs > 0 ? blocking : client;
        const args: (string | number)[] = ['GROUP', group, consumer, 'COUNT', max - entries.length];
        if (blockMs > 0) args.push('BLOCK', blockMs);
        const reply = await guard(() => withGroup(() =>
          (conn as unknown as { xreadgroup(...a: (string | number)[]): Promise<unknown> }).xreadgroup(...args, 'STREAMS', stream, '>')));
        const streams = (reply ?? []) as [string, [string, string[]][]][];
        for (const [eid, fields] of streams[0]?.[1] ?? []) entries.push([eid, fieldOf(fields, 'id')]);
      }
      if (entries.length === 0) return { jobs: [], dead: [], reclaimed };
      const deadError = JSON.stringify(deliveryLimitError(maxDeliveries));
      const replies = await guard(() => client.omniserveJobStart(
        2 + entries.length, stream, dead, ...entries.map(([, id]) => jobKey(id)),
        group, maxDeliveries, now(), ttl, deadError, entries.length, ...entries.flatMap(([eid, id]) => [eid, id])));
      const out: ClaimResult = { jobs: [], dead: [], reclaimed };
      replies.forEach(([what, hash], i) => {
        const job = hash ? fromHash(hash) : undefined;
        if (!job) return;
        if (what === 'run') out.jobs.push({ job, token: entries[i]![0] });
        else if (what === 'dead') out.dead.push(job);
      });
      return out;
    },
    async complete(c, result) {
      return finish(c, 'completed', 'result', JSON.stringify(result ?? null), false);
    },
    async fail(c, error: JobError, { final }) {
      return finish(c, final ? 'failed' : 'pending', 'error', JSON.stringify(error), !final);
    },
    async stats() {
      const r = await guard(() => client.multi().xlen(stream).xrange(stream, '-', '+', 'COUNT', 1).exec());
      const depth = Number(r?.[0]?.[1] ?? 0);
      const first = (r?.[1]?.[1] as [string, string[]][] | undefined)?.[0]?.[0];
      const oldestAgeMs = depth && first ? Math.max(0, Date.now() - Number(first.split('-')[0])) : 0;
      return { depth, oldestAgeMs };
    },
    async close() {
      blocking?.disconnect();
      await quit(client);
    },
  };

  function makeBlocking(blockMs: number): Redis {
    const r = new Redis(o.url, redisClientOptions({ connectTimeoutMs, commandTimeoutMs: Math.max(commandTimeoutMs, blockMs + 2_000) }));
    r.on('error', (e: unknown) => { lastError = messageOf(e); });
    return r;
  }
}

/** HGETALL answers an object from ioredis, a flat list from Lua: both become a flat list. */
function flatten(h: Record<string, string>): string[] {
  return Object.entries(h).flat();
}
