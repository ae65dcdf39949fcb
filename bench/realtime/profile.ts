/**
 * Where a Node, Bun or Deno server's time goes under bench/realtime's load: starts Redis (seeded
 * as in run.ts), runs the server under `--cpu-prof` (Node, Bun: the profile is written when
 * SIGTERM stops it) or `--inspect` (Deno, which has no `--cpu-prof`: cdp-profile.ts records the
 * profile over the DevTools protocol while the load runs), loads it with wrk (64 connections,
 * random ids) for `--seconds`, and prints the top self-time functions and the time per package
 * (omniserve, hono, ioredis, the host's internals).
 *
 *   node --import tsx bench/realtime/profile.ts [--host node|bun|deno] [--server omniserve|hello|floor] [--seconds 10]
 *       [--max-delay-ms N] [--top 30] [--json out.json] [--features-in-body]
 *
 * Profiling slows the server down, so these numbers say where time goes, not how fast it is.
 * @module
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { freePort } from '../../test/support/free-port.ts';
import { spawnProcess } from '../../test/support/process.ts';
import { startRedis } from '../../test/support/redis-server.ts';
import { fmtMs, fmtRate } from '../core/format.ts';
import { summarizeProfile } from './cpu-profile.ts';
import { fixtureRows, seedRedis } from './seed-redis.ts';
import { executable, ROOT, startServer, type ServerSpec } from './servers.ts';
import { runWrk } from './wrk.ts';

const { values: args } = parseArgs({
  options: {
    server: { type: 'string', default: 'omniserve' },
    host: { type: 'string', default: 'node' },
    seconds: { type: 'string', default: '10' },
    'max-delay-ms': { type: 'string' },
    top: { type: 'string', default: '30' },
    json: { type: 'string' },
    'features-in-body': { type: 'boolean', default: false },
  },
});
const seconds = Number(args.seconds);
if (args.host !== 'node' && args.host !== 'bun' && args.host !== 'deno') throw new Error(`--host ${args.host}: node, bun or deno`);
const host: 'node' | 'bun' | 'deno' = args.host;
const dir = join(ROOT, '.tmp', 'bench', 'realtime', `prof-${args.host}-${args.server}`);
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const inspect = host === 'deno' ? `127.0.0.1:${await freePort()}` : undefined;
const flags = inspect ? [`--inspect=${inspect}`] : ['--cpu-prof', '--cpu-prof-dir', relative(ROOT, dir)];

const redis = await startRedis();
try {
  await seedRedis(redis.url);
  let spec: ServerSpec;
  if (args.server === 'hello') {
    spec = { kind: 'hello', hostFlags: flags };
  } else if (args.server === 'floor') {
    spec = { kind: 'floor', redis: redis.url, hostFlags: flags };
  } else {
    const config = join(ROOT, '.tmp', 'bench', 'realtime', 'profile-omniserve.json');
    writeFileSync(config, JSON.stringify({
      models: [{ path: relative(join(ROOT, '.tmp', 'bench', 'realtime'), join(ROOT, 'test', 'fixtures', 'models', 'breast-cancer.onnx')) }],
      featureStore: args['features-in-body'] ? { kind: 'none' } : { kind: 'redis', url: redis.url },
      cache: { kind: 'none' },
      batching: args['max-delay-ms'] !== undefined ? { maxDelayMs: Number(args['max-delay-ms']) } : {},
    }));
    spec = { kind: 'omniserve', config: relative(ROOT, config), hostFlags: flags };
  }
  const server = await startServer(host, spec);
  try {
    let bodyFile: string | undefined;
    if (args['features-in-body'] && args.server === 'omniserve') {
      bodyFile = join(dir, 'features-body.json');
      writeFileSync(bodyFile, JSON.stringify({ features: fixtureRows()[42] }));
    }
    // Deno: the DevTools client records the profile while wrk runs (it starts ~0.3 s into the load).
    const recorder = inspect
      ? spawnProcess(executable(join('node_modules', '.bin', 'deno')),
        ['run', '-A', join('bench', 'realtime', 'cdp-profile.ts'), inspect, String(Math.max(1, seconds - 1)), join(relative(ROOT, dir), 'deno.cpuprofile')],
        { cwd: ROOT, name: 'cdp-profile' })
      : undefined;
    const r = await runWrk({ url: `${server.url}/predict`, threads: 2, connections: 64, seconds, ...(bodyFile ? { bodyFile } : {}) });
    if (recorder) {
      const rec = await recorder;
      const { code } = await rec.exited;
      if (code !== 0) throw new Error(`cdp-profile.ts exited with ${code}: ${rec.outputTail()}`);
    }
    process.stderr.write(`${args.server} on ${host} under --cpu-prof: ${fmtRate(r.result.requestsPerSec)} req/s, p50 ${fmtMs(r.result.latencyMs.p50)} ms, ` +
      `p99 ${fmtMs(r.result.latencyMs.p99)} ms, non-2xx ${r.result.non2xx}\n`);
  } finally {
    await server.stop();
  }
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile in ${dir}: did the server exit cleanly on SIGTERM (Node, Bun)?`);
  const summary = summarizeProfile(join(dir, file), Number(args.top));
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`.padStart(6);
  process.stdout.write(`profile ${relative(ROOT, join(dir, file))}: ${fmtMs(summary.totalMs)} ms sampled, ${fmtMs(summary.idleMs)} ms idle\n\n` +
    'self time by package (share of non-idle):\n' +
    summary.groups.map((g) => `  ${pct(g.share)} ${fmtMs(g.ms).padStart(8)} ms  ${g.group}`).join('\n') +
    '\n\ntop functions by self time:\n' +
    summary.functions.map((f) => `  ${pct(f.share)} ${fmtMs(f.ms).padStart(8)} ms  ${f.fn}  ${f.where}`).join('\n') + '\n');
  if (args.json) writeFileSync(args.json, `${JSON.stringify(summary, null, 2)}\n`);
} finally {
  await redis.stop();
}
