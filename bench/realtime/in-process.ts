/**
 * What omniserve's request path costs without any HTTP server or socket: `app.fetch` of the
 * Hono app that `omniserve serve` builds, called 64 requests at a time (like wrk's 64
 * connections), against the same app's hello-world-like route cost (`GET /health/live`).
 * CPU µs per request from process.cpuUsage(): not disturbed by wrk, Redis or the kernel's
 * loopback, and it runs on Node, Bun and Deno, so it splits bench/realtime's gap between
 * the listener and omniserve's own code. With `--redis URL` the features come from that
 * Redis (seeded by seed-redis.ts); without, from the request body. On Node the figures are
 * dominated by building real `Request` objects (undici: streams, AbortSignal), which
 * @hono/node-server's listener avoids; compare Bun and Deno with it, not Node.
 *
 * Seen 2026-11-26 (2 loaded cores): Bun 5.5 µs (health) vs 27-32 µs (predict, features in
 * the body); Deno 9-10 vs 58-62 µs.
 *
 *   node --import tsx bench/realtime/in-process.ts [--seconds 3] [--redis redis://127.0.0.1:6379 [--client-cache] [--floor]]
 *   bun bench/realtime/in-process.ts ...     deno run -A bench/realtime/in-process.ts ...
 * @module
 */
import process from 'node:process';
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { buildServer } from '../../runtimes/serve/build-server.ts';
import { createNativeRuntime } from '../../runtimes/native/runtime.ts';
import { parseServerConfig } from '../../src/config/schema.ts';
import { ROOT } from './servers.ts';
import { fixtureRows, ITEMS, USERS } from './seed-redis.ts';
import { createFloorApp } from './floor-app.ts';

const { values: args } = parseArgs({ options: {
  seconds: { type: 'string', default: '3' }, redis: { type: 'string' }, concurrency: { type: 'string', default: '64' },
  // The Redis store's clientCache: after the warm-up every hash is held (the lookups' cost without Redis).
  'client-cache': { type: 'boolean', default: false },
  // Also the hand-written floor (floor-app.ts) on the same Redis: what omniserve adds, without sockets.
  floor: { type: 'boolean', default: false },
} });
const seconds = Number(args.seconds);
const concurrency = Number(args.concurrency);
const built = await buildServer(parseServerConfig({
  models: [{ path: join(ROOT, 'test', 'fixtures', 'models', 'breast-cancer.onnx') }],
  featureStore: args.redis ? { kind: 'redis', url: args.redis, ...(args['client-cache'] ? { clientCache: {} } : {}) } : { kind: 'none' },
  cache: { kind: 'none' },
}), createNativeRuntime(), ROOT);
const app = built.app;
const features = fixtureRows()[42]!;
const featureBody = JSON.stringify({ features });
const body = () => (args.redis
  // Numeric ids, as post.lua sends them under wrk (a string id costs valibot a failed number check first).
  ? JSON.stringify({ user_id: (Math.random() * USERS) | 0, item_id: (Math.random() * ITEMS) | 0 })
  : featureBody);

if (args.floor && !args.redis) throw new Error('--floor needs --redis');
const floor = args.floor ? await createFloorApp({ redis: args.redis! }) : undefined;
const post = (fetch: (r: Request) => Response | Promise<Response>) => () => {
  const b = body();
  return fetch(new Request('http://x/predict', { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(b.length) }, body: b }));
};

type Case = { name: string; one: () => Response | Promise<Response> };
const cases: Case[] = [
  { name: 'GET /v2/health/live (router + response only)', one: () => app.fetch(new Request('http://x/v2/health/live')) },
  { name: `POST /predict (${args.redis ? (args['client-cache'] ? 'Redis features, clientCache' : 'Redis features') : 'features in the body'})`, one: post(app.fetch) },
  ...(floor ? [{ name: 'POST /predict, hand-written floor (Redis)', one: post(floor.app.fetch) }] : []),
];

async function measure(c: Case, s: number): Promise<{ rps: number; cpuUs: number }> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let n = 0;
  while (performance.now() - t0 < s * 1000) {
    const res = await Promise.all(Array.from({ length: concurrency }, () => Promise.resolve(c.one()).then(async (r) => {
      if (r.status !== 200) throw new Error(`${c.name}: ${r.status} ${await r.text()}`);
      return r.text();
    })));
    n += res.length;
  }
  const cu = process.cpuUsage(c0);
  return { rps: n / ((performance.now() - t0) / 1000), cpuUs: (cu.user + cu.system) / n };
}

const host = process.versions.bun ? `bun ${process.versions.bun}` : (globalThis as { Deno?: { version: { deno: string } } }).Deno ? `deno ${(globalThis as unknown as { Deno: { version: { deno: string } } }).Deno.version.deno}` : `node ${process.version}`;
for (const c of cases) await measure(c, 1); // warm-up
for (let round = 1; round <= 2; round++) {
  for (const c of cases) {
    const r = await measure(c, seconds);
    console.log(`${host}  round ${round}  ${c.name.padEnd(44)} ${Math.round(r.rps).toLocaleString('en-US').padStart(8)} req/s  ${r.cpuUs.toFixed(1).padStart(6)} µs CPU/req`);
  }
}
await built.close();
await floor?.close();
process.exit(0);
