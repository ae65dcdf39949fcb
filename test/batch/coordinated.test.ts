// Coordinated batch runs on one real Redis: a coordinator (`omniserve batch ... --redis`)
// and three `omniserve batch --worker` processes; one worker is killed with SIGKILL while it
// holds units; its units are reclaimed (XAUTOCLAIM) and the run commits with every input
// row exactly once, checked id by id.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { Manifest } from '../../src/batch/manifest.ts';
import { startRedis, type RedisServer } from '../support/redis-server.ts';
import { ROOT, readOutput, tempDir, writeConfig, writeInput } from './fixtures.ts';

let redis: RedisServer;
let client: Redis;
const dirs: string[] = [];
const children: ChildProcess[] = [];
before(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
});
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  client.disconnect();
  await redis.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function start(args: string[]): { child: ChildProcess; done: Promise<{ code: number | null; signal: string | null; out: string; err: string }>; saw: (re: RegExp) => Promise<void> } {
  const child = spawn(process.execPath, [join(ROOT, 'bin/omniserve.mjs'), 'batch', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  const waiters: [RegExp, () => void][] = [];
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { err += d; for (const w of waiters.filter(([re]) => re.test(err))) w[1](); });
  const done = new Promise<{ code: number | null; signal: string | null; out: string; err: string }>((res) => child.on('close', (code, signal) => res({ code, signal, out, err })));
  return { child, done, saw: (re) => new Promise<void>((res) => { if (re.test(err)) res(); else waiters.push([re, res]); }) };
}

const ids = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

test('three workers on one Redis, one killed with SIGKILL mid-run: the run completes exactly once', { timeout: 120_000 }, async () => {
  const dir = tempDir(); dirs.push(dir);
  writeInput(join(dir, 'in/a.parquet'), ids(2400), { rowGroupSize: 40 });
  writeInput(join(dir, 'in/b.parquet'), ids(1600, 10_000), { rowGroupSize: 40 });
  const config = writeConfig(dir, { unitRows: 40 });
  const workerArgs = ['--worker', '--redis', redis.url, '--workers', '1', '--claim-idle-ms', '1500'];
  const workers = [start(workerArgs), start(workerArgs), start(workerArgs)];
  await Promise.all(workers.map((w) => w.saw(/claiming units/)));
  const coord = start(['--config', config, '--input', join(dir, 'in'), '--output', join(dir, 'out'), '--partition-by', 'segment', '--redis', redis.url]);

  // Kill the first worker once the run is under way and it holds a unit.
  const victim = `${hostname()}-${workers[0]!.child.pid}`;
  const deadline = Date.now() + 60_000;
  let killedHolding = 0;
  for (;;) {
    assert.ok(Date.now() < deadline, 'the victim never held a unit mid-run');
    const pending = (await client.xpending('omniserve:batch:units', 'omniserve-batch').catch(() => null)) as [number, string, string, [string, string][] | null] | null;
    const held = Number(pending?.[3]?.find(([c]) => c === victim)?.[1] ?? 0);
    const keys = await client.keys('omniserve:batch:run:*:results');
    const finished = keys.length ? await client.xlen(keys[0]!) : 0;
    if (held > 0 && finished >= 5) { killedHolding = held; break; }
    await new Promise((res) => setTimeout(res, 20));
  }
  workers[0]!.child.kill('SIGKILL');
  assert.equal((await workers[0]!.done).signal, 'SIGKILL');
  assert.ok(killedHolding > 0);

  const r = await coord.done;
  assert.equal(r.code, 0, r.err.slice(-3000));
  const rows = await readOutput(join(dir, 'out'));
  const seen = new Map<number, number>();
  for (const row of rows) seen.set(Number(row['id']), (seen.get(Number(row['id'])) ?? 0) + 1);
  const expected = [...ids(2400), ...ids(1600, 10_000)];
  assert.equal(rows.length, expected.length, 'no row twice');
  for (const id of expected) assert.equal(seen.get(id), 1, `id ${id} exactly once`);
  const m = JSON.parse(readFileSync(join(dir, 'out/_manifest.json'), 'utf8')) as Manifest;
  assert.equal(m.status, 'committed');
  assert.equal(m.rows, expected.length);
  assert.equal(Object.keys(m.units).length, 100);
  assert.ok(rows.every((row) => row['prediction_run_id'] === m.runId));
  // The run's keys are gone; the surviving workers stop cleanly on SIGTERM.
  assert.deepEqual(await client.keys(`omniserve:batch:run:${m.runId}*`), []);
  for (const w of workers.slice(1)) w.child.kill('SIGTERM');
  for (const w of workers.slice(1)) assert.equal((await w.done).code, 0);
});

test('the coordinator killed with SIGKILL mid-run and restarted with --resume: the run completes exactly once', { timeout: 150_000 }, async () => {
  const dir = tempDir(); dirs.push(dir);
  writeInput(join(dir, 'in/a.parquet'), ids(3600), { rowGroupSize: 40 });
  writeInput(join(dir, 'in/b.parquet'), ids(2400, 10_000), { rowGroupSize: 40 });
  const config = writeConfig(dir, { unitRows: 40 });
  const workerArgs = ['--worker', '--redis', redis.url, '--workers', '1', '--claim-idle-ms', '1500'];
  const workers = [start(workerArgs), start(workerArgs), start(workerArgs)];
  await Promise.all(workers.map((w) => w.saw(/claiming units/)));
  const args = ['--config', config, '--input', join(dir, 'in'), '--output', join(dir, 'out'), '--partition-by', 'segment', '--redis', redis.url];
  const first = start(args);

  // Kill the coordinator once some units are recorded in its manifest and most are still queued.
  const manifestPath = join(dir, 'out/_manifest.json');
  const recorded = () => { try { return Object.keys((JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest).units).length; } catch { return 0; } };
  const deadline = Date.now() + 60_000;
  while (recorded() < 10) {
    assert.ok(Date.now() < deadline, 'the coordinator never recorded 10 units');
    await new Promise((res) => setTimeout(res, 10));
  }
  first.child.kill('SIGKILL');
  assert.equal((await first.done).signal, 'SIGKILL');
  const mid = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
  assert.equal(mid.status, 'running');
  assert.ok(Object.keys(mid.units).length < 150, 'killed mid-run');
  // Workers go on while the coordinator is gone: some units finish with nobody recording them.
  const results = `omniserve:batch:run:${mid.runId}:results`;
  const before = await client.xlen(results);
  while ((await client.xlen(results)) < Math.min(150, before + 10)) await new Promise((res) => setTimeout(res, 20));

  const second = start([...args, '--resume']);
  const r = await second.done;
  const committedAt = Date.now();
  assert.equal(r.code, 0, r.err.slice(-3000));
  const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
  assert.equal(m.status, 'committed');
  assert.equal(m.runId, mid.runId, 'the resumed coordinator finishes the same run');
  assert.equal(Object.keys(m.units).length, 150);
  const expected = [...ids(3600), ...ids(2400, 10_000)];
  assert.equal(m.rows, expected.length);

  // Let the workers drain whatever is left on the stream, then check that nothing was
  // scored or written for the run after it committed and no key of it came back.
  const drained = Date.now() + 10_000;
  for (;;) {
    const queued = await client.xlen('omniserve:batch:units');
    const pending = (await client.xpending('omniserve:batch:units', 'omniserve-batch')) as [number, ...unknown[]];
    if (queued === 0 && pending[0] === 0) break;
    assert.ok(Date.now() < drained, `the units stream never drained (${queued} entries, ${pending[0]} pending)`);
    await new Promise((res) => setTimeout(res, 50));
  }
  await new Promise((res) => setTimeout(res, 500));
  assert.deepEqual(await client.keys(`omniserve:batch:run:${m.runId}*`), []);
  const rows = await readOutput(join(dir, 'out'));
  for (const f of new Set(rows.map((row) => row['_file'] as string))) assert.ok(statSync(f).mtimeMs <= committedAt, `${f} was written after the run committed`);
  const seen = new Map<number, number>();
  for (const row of rows) seen.set(Number(row['id']), (seen.get(Number(row['id'])) ?? 0) + 1);
  assert.equal(rows.length, expected.length, 'no row twice');
  for (const id of expected) assert.equal(seen.get(id), 1, `id ${id} exactly once`);
  assert.ok(rows.every((row) => row['prediction_run_id'] === m.runId));
  for (const w of workers) w.child.kill('SIGTERM');
  for (const w of workers) assert.equal((await w.done).code, 0);
});

test('a --worker process on Deno scores a run coordinated from Node', { timeout: 60_000 }, async () => {
  const dir = tempDir(); dirs.push(dir);
  writeInput(join(dir, 'in/a.parquet'), ids(800), { rowGroupSize: 100 });
  const config = writeConfig(dir, { unitRows: 100 });
  const child = spawn(join(ROOT, 'node_modules/.bin/deno'), ['run', '-A', join(ROOT, 'runtimes/deno/main.ts'), 'batch', '--worker', '--redis', redis.url, '--workers', '1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let err = '';
  const claiming = new Promise<void>((res) => child.stderr!.on('data', (d) => { err += d; if (/claiming units/.test(err)) res(); }));
  const exited = new Promise<number | null>((res) => child.on('close', res));
  await claiming;
  const coord = await start(['--config', config, '--input', join(dir, 'in'), '--output', join(dir, 'out'), '--redis', redis.url]).done;
  assert.equal(coord.code, 0, coord.err.slice(-2000));
  const rows = await readOutput(join(dir, 'out'));
  assert.deepEqual(rows.map((r) => Number(r['id'])).sort((a, b) => a - b), ids(800));
  child.kill('SIGTERM');
  assert.equal(await exited, 0, err.slice(-2000));
  assert.match(err, /stopped \(8 units\)/, 'the Deno worker scored every unit');
});

test('--max-deliveries 1: units held by a worker that stopped answering fail with WORKER_DIED (exit 3); --resume scores them, every row once', { timeout: 120_000 }, async () => {
  const dir = tempDir(); dirs.push(dir);
  writeInput(join(dir, 'in/a.parquet'), ids(2000), { rowGroupSize: 40 });
  const config = writeConfig(dir, { unitRows: 40 });
  const workerArgs = ['--worker', '--redis', redis.url, '--workers', '1', '--claim-idle-ms', '1000', '--max-deliveries', '1'];
  const workers = [start(workerArgs), start(workerArgs)];
  await Promise.all(workers.map((w) => w.saw(/claiming units/)));
  const args = ['--config', config, '--input', join(dir, 'in'), '--output', join(dir, 'out'), '--redis', redis.url, '--claim-idle-ms', '1000', '--max-deliveries', '1'];
  const coord = start(args);
  const victim = `${hostname()}-${workers[0]!.child.pid}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    assert.ok(Date.now() < deadline, 'the victim never held a unit mid-run');
    const pending = (await client.xpending('omniserve:batch:units', 'omniserve-batch').catch(() => null)) as [number, string, string, [string, string][] | null] | null;
    if (Number(pending?.[3]?.find(([c]) => c === victim)?.[1] ?? 0) > 0) break;
    await new Promise((res) => setTimeout(res, 10));
  }
  // SIGSTOP: the worker keeps its units (it cannot finish them) and stops keeping its claim
  // fresh; the other worker takes them after --claim-idle-ms, the second delivery of each.
  workers[0]!.child.kill('SIGSTOP');
  const r = await coord.done;
  workers[0]!.child.kill('SIGKILL');
  assert.equal(r.code, 3, r.err.slice(-3000));
  const m = JSON.parse(readFileSync(join(dir, 'out/_manifest.json'), 'utf8')) as Manifest;
  assert.equal(m.status, 'failed');
  assert.ok(m.failedUnits.length >= 1);
  for (const f of m.failedUnits) {
    assert.equal(f.code, 'WORKER_DIED');
    assert.match(f.message, /delivered 2 times.*the delivery limit is 1/);
  }
  assert.equal(Object.keys(m.units).length + m.failedUnits.length, 50);
  const fin = await start([...args, '--resume']).done;
  assert.equal(fin.code, 0, fin.err.slice(-3000));
  const rows = await readOutput(join(dir, 'out'));
  assert.deepEqual(rows.map((row) => Number(row['id'])).sort((a, b) => a - b), ids(2000), 'every row once');
  const done = JSON.parse(readFileSync(join(dir, 'out/_manifest.json'), 'utf8')) as Manifest;
  assert.equal(done.status, 'committed');
  assert.equal(done.runId, m.runId);
  assert.deepEqual(await client.keys(`omniserve:batch:run:${m.runId}*`), []);
  workers[1]!.child.kill('SIGTERM');
  assert.equal((await workers[1]!.done).code, 0);
});
