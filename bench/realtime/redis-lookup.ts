/**
 * What one feature lookup (a `user:` and an `item:` hash, 30 fields between them, as in
 * bench/realtime) costs in CPU, in the client process and in redis-server, for the ways of
 * reading hashes that runtimes/native/redis-store.ts chose between. Redis shares the cores
 * with the server under load, so its CPU per lookup counts as much as ours.
 *
 *   node --import tsx bench/realtime/redis-lookup.ts [--batch 32] [--rounds 400]
 *
 * batch = lookups per round trip (what the coalescer gathers under load). Client CPU from
 * process.cpuUsage(), Redis CPU from INFO cpu; both per lookup. Prints a Markdown table.
 * @module
 */
import process from 'node:process';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { startRedis } from '../../test/support/redis-server.ts';
import { createRedisFeatureStore } from '../../runtimes/native/redis-store.ts';
import type { FeatureValues } from '../../src/features/types.ts';
import { ITEMS, USERS, seedRedis } from './seed-redis.ts';

const { values: args } = parseArgs({ options: { batch: { type: 'string', default: '32' }, rounds: { type: 'string', default: '400' } } });
const BATCH = Number(args.batch);
const ROUNDS = Number(args.rounds);

/** A flat HGETALL reply as an object of its strings. */
function hashOf(flat: readonly string[], from = 0): FeatureValues {
  const h: Record<string, string> = {};
  for (let j = from; j < flat.length; j += 2) h[flat[j]!] = flat[j + 1]!;
  return h;
}

const redis = await startRedis();
try {
  await seedRedis(redis.url);
  const c = new Redis(redis.url);
  const store = createRedisFeatureStore({ url: redis.url });
  const redisCpu = async () => {
    const s = await c.info('cpu');
    const m = (k: string) => Number(new RegExp(`${k}:([0-9.]+)`).exec(s)![1]);
    return m('used_cpu_user') + m('used_cpu_sys');
  };
  const keysFor = () => {
    const ks: string[] = [];
    for (let i = 0; i < BATCH; i++) ks.push(`user:${(Math.random() * USERS) | 0}`, `item:${(Math.random() * ITEMS) | 0}`);
    return ks;
  };
  const rows: string[] = [];
  const measure = async (name: string, fn: (keys: string[]) => Promise<unknown>) => {
    for (let i = 0; i < 50; i++) await fn(keysFor());
    const r0 = await redisCpu();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < ROUNDS; i++) await fn(keysFor());
    const wall = performance.now() - t0;
    const cu = process.cpuUsage(c0);
    const r1 = await redisCpu();
    const n = ROUNDS * BATCH;
    const client = (cu.user + cu.system) / n;
    const server = ((r1 - r0) * 1e6) / n;
    rows.push(`| ${name} | ${client.toFixed(1)} | ${server.toFixed(1)} | ${(client + server).toFixed(1)} | ${((wall * 1000) / n).toFixed(1)} |`);
  };
  const flatJson = `local out = {} for i, k in ipairs(KEYS) do out[i] = redis.call('HGETALL', k) end return cjson.encode(out)`;
  const convertInLua = `local out = {} for i, k in ipairs(KEYS) do local r = redis.call('HGETALL', k) local h = {}
    for j = 1, #r, 2 do local v = r[j + 1] local n = tonumber(v)
      if n and n == n and n ~= math.huge and n ~= -math.huge and tostring(n) == v then h[r[j]] = n else h[r[j]] = v end end
    out[i] = h end return cjson.encode(out)`;
  const separated = `local out = {} for i, k in ipairs(KEYS) do local r = redis.call('HGETALL', k)
    if #r == 0 then out[i] = '' else out[i] = #r .. '\\31' .. table.concat(r, '\\31') end end return table.concat(out, '\\30')`;
  for (let rep = 0; rep < 2; rep++) {
    await measure('script: HGETALL, flat JSON, JSON.parse + objects in JS (the store until 2026-11-26)', async (ks) => {
      const r = JSON.parse((await c.eval(flatJson, ks.length, ...ks)) as string) as string[][];
      return r.map((f) => (f.length ? hashOf(f) : null));
    });
    await measure('omniserve redis store (getMany: pipelined HGETALL on its own connection, parsed in JS)', (ks) => store.getMany(ks));
    await measure('script: HGETALL, one separated string, split + objects in JS (the store until 2026-11-27)', async (ks) => {
      const parts = ((await c.eval(separated, ks.length, ...ks)) as string).split('\x1e');
      return parts.map((p) => (p === '' ? null : hashOf(p.split('\x1f'), 1)));
    });
    await measure('script: HGETALL, numbers converted in Lua, JSON', (ks) => c.eval(convertInLua, ks.length, ...ks));
    await measure('script: HGETALL, flat JSON (no JS decode)', (ks) => c.eval(flatJson, ks.length, ...ks));
    await measure('ioredis pipeline of HGETALL', (ks) => {
      const p = c.pipeline();
      for (const k of ks) p.hgetall(k);
      return p.exec();
    });
  }
  console.log(`lookups of 2 hashes (30 fields), ${BATCH} per round trip, ${ROUNDS} round trips per row; each way measured twice\n`);
  console.log('| way | client µs/lookup | redis µs/lookup | total µs | wall µs |\n| --- | ---: | ---: | ---: | ---: |');
  console.log(rows.join('\n'));
  await c.quit();
  await store.close();
} finally {
  await redis.stop();
}
