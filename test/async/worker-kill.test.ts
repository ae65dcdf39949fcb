// The async path under failure, all real: redis-server, `omniserve serve` (with its
// in-process worker) and three `omniserve worker` processes. N jobs (default 10,000;
// OMNISERVE_ASYNC_JOBS overrides) are submitted with idempotency keys; during the run one
// worker is killed with SIGKILL three times (a new one started each time) and the server is
// SIGKILLed and restarted while submissions are still coming. Every job must end with
// exactly one final result, the right one: golden probabilities for good jobs, the feature
// error for jobs whose stored features are invalid; nothing lost, nothing dead-lettered.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createRedisQueue, type RedisJobQueue } from '../../runtimes/native/redis-queue.ts';
import { startRedis, type RedisServer } from '../support/redis-server.ts';
import type { ManagedProcess } from '../support/process.ts';
import { ROOT, SERVE_HOSTS, startServe, startWorker, type ServeProcess } from '../support/serve-process.ts';
import { bc, FEATURES, wantProbability } from '../support/golden.ts';

/** User i is golden row i % 32. */
const want = wantProbability;
const NODE = SERVE_HOSTS.find((h) => h.name === 'node')!;
const N = Number(process.env['OMNISERVE_ASYNC_JOBS'] ?? 10_000);
const USERS = 200;
/** Every 100th job reads a user whose stored mean_radius is not a number. */
const isBad = (i: number) => i % 100 === 99;
const GROUP = 'omniserve-workers';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function loadHashes(url: string): Promise<void> {
  const c = new Redis(url);
  try {
    const p = c.pipeline();
    for (let u = 0; u < USERS; u++) {
      const r = bc.records[u % 32]!;
      p.hset(`user:${u}`, { ...Object.fromEntries(FEATURES.slice(0, 20).map((f) => [f, String(r[f])])), uid: String(u) });
      p.hset(`item:${u}`, Object.fromEntries(FEATURES.slice(20).map((f) => [f, String(r[f])])));
    }
    p.hset('user:bad', { ...Object.fromEntries(FEATURES.slice(0, 20).map((f) => [f, String(bc.records[0]![f])])), mean_radius: 'oops' });
    await p.exec();
  } finally {
    c.disconnect();
  }
}

/** An `omniserve worker` on Node, numbered for the logs. */
const nodeWorker = async (config: string, k: number): Promise<ManagedProcess> => (await startWorker(NODE, config, { name: `worker-${k}` })).proc;

describe(`async jobs survive killed workers and a killed server (${N} jobs)`, { timeout: 600_000 }, () => {
  let tmp: string;
  let redis: RedisServer;
  let config: string;
  let server: ServeProcess | undefined;
  const workers: ManagedProcess[] = [];
  let queue: RedisJobQueue;

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'omniserve-async-kill-'));
    redis = await startRedis();
    await loadHashes(redis.url);
    config = join(tmp, 'omniserve.json');
    writeFileSync(config, JSON.stringify({
      server: { port: 0, host: '127.0.0.1', drainTimeoutMs: 5_000 },
      models: [{ path: join(ROOT, 'test/fixtures/models/breast-cancer.onnx') }],
      featureStore: { kind: 'redis', url: redis.url },
      queue: { kind: 'redis', url: redis.url, claimIdleMs: 2_000 },
    }));
    queue = createRedisQueue({ url: redis.url });
    const started = await Promise.all([startServe(NODE, config), ...[0, 1, 2].map((k) => nodeWorker(config, k))]);
    server = started[0] as ServeProcess;
    workers.push(...(started.slice(1) as ManagedProcess[]));
  });
  after(async () => {
    await Promise.all([server?.stop(5_000), ...workers.map((w) => w.stop({ graceMs: 5_000 }))]);
    await queue?.close();
    await redis?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('every job gets exactly one final, correct result', { timeout: 600_000 }, async () => {
    const t0 = Date.now();
    const ids: string[] = new Array(N);
    let submitted = 0;
    let restarting: Promise<void> | undefined;
    let serverKilled = false;
    let retries = 0;

    const submitOne = async (i: number) => {
      const u = i % USERS;
      const body = isBad(i) ? { user_id: 'bad', item_id: 0 } : { user_id: u, item_id: u };
      for (let attempt = 0; ; attempt++) {
        await restarting;
        try {
          const res = await fetch(`${server!.url}/predict/async`, {
            method: 'POST', body: JSON.stringify(body),
            headers: { 'content-type': 'application/json', 'idempotency-key': `job-${i}` }, signal: AbortSignal.timeout(10_000),
          });
          const json = (await res.json()) as { request_id: string };
          if (res.status === 202) {
            ids[i] = json.request_id;
            return;
          }
          assert.ok(res.status >= 500, `job ${i}: ${res.status} ${JSON.stringify(json)}`);
        } catch (e) {
          if (e instanceof assert.AssertionError) throw e;
          // The server is being killed or restarted: the key makes the retry safe.
        }
        retries++;
        assert.ok(attempt < 200, `job ${i}: no 202 after 200 tries`);
        await sleep(50);
      }
    };

    const submitAll = (async () => {
      let next = 0;
      await Promise.all(Array.from({ length: 32 }, async () => {
        while (next < N) {
          const i = next++;
          await submitOne(i);
          submitted++;
          if (!serverKilled && submitted >= N / 2) {
            serverKilled = true;
            // SIGKILL: no drain; its in-process worker's jobs must be reclaimed too.
            restarting = (async () => {
              await server!.proc.stop({ signal: 'SIGKILL' });
              server = await startServe(NODE, config);
            })();
          }
        }
      }));
    })();

    // Kill a worker at 20%, 40% and 60% of the work done, each time starting a new one. The
    // victim is one that holds started jobs: each candidate is frozen (SIGSTOP) and its
    // pending entries read; a worker caught between jobs is let go and another tried, so
    // every kill leaves jobs that must be reclaimed and run again.
    const holdsStartedJobs = async (pid: number): Promise<boolean> => {
      const summary = (await queue.client.xpending(queue.keys.stream, GROUP)) as [number, string, string, [string, string][] | null];
      const mine = (summary[3] ?? []).find(([c]) => c.includes(`-${pid}-`));
      if (!mine || Number(mine[1]) === 0) return false;
      const pending = (await queue.client.xpending(queue.keys.stream, GROUP, '-', '+', 50, mine[0])) as [string][];
      for (const [eid] of pending) {
        const entry = (await queue.client.xrange(queue.keys.stream, eid, eid))[0];
        const id = entry?.[1][entry[1].indexOf('id') + 1];
        if (id && Number(await queue.client.hget(queue.keys.job(id), 'attempts')) >= 1) return true;
      }
      return false;
    };
    let kills = 0;
    const killer = (async () => {
      while (kills < 3) {
        const depth = await queue.client.xlen(queue.keys.stream);
        if (submitted - depth >= (N * (kills + 1)) / 5) {
          for (const [k, w] of workers.entries()) {
            process.kill(w.pid, 'SIGSTOP');
            if (!(await holdsStartedJobs(w.pid))) {
              process.kill(w.pid, 'SIGCONT');
              continue;
            }
            workers.splice(k, 1);
            await w.stop({ signal: 'SIGKILL' });
            kills++;
            workers.push(await nodeWorker(config, 2 + kills));
            break;
          }
        }
        assert.ok(!(submitted === N && depth === 0), `the work ran out after ${kills} kills: no worker was caught holding a job`);
        await sleep(20);
      }
    })();

    await submitAll;
    await killer;
    assert.equal(submitted, N);
    // Wait until nothing is waiting or held.
    const deadline = Date.now() + 300_000;
    while ((await queue.client.xlen(queue.keys.stream)) > 0) {
      assert.ok(Date.now() < deadline, 'the queue did not drain');
      await sleep(200);
    }
    const elapsed = (Date.now() - t0) / 1000;

    const records = await Promise.all(ids.map((id) => queue.get(id)));
    let completed = 0;
    let failed = 0;
    let reclaimed = 0;
    records.forEach((r, i) => {
      assert.ok(r, `job ${i} (${ids[i]}) is lost`);
      if (r.attempts > 1) reclaimed++;
      if (isBad(i)) {
        assert.equal(r.status, 'failed', `job ${i}: ${JSON.stringify(r)}`);
        assert.equal(r.error?.code, 'INVALID_FEATURE_TYPE', `job ${i}: ${JSON.stringify(r.error)}`);
        failed++;
        return;
      }
      assert.equal(r.status, 'completed', `job ${i}: ${JSON.stringify(r)}`);
      const p = (r.result as { probability: number }).probability;
      assert.ok(Math.abs(p - want(i % USERS)) <= 1e-4, `job ${i}: probability ${p}, expected ${want(i % USERS)}`);
      completed++;
    });
    assert.equal(new Set(ids).size, N, 'one request_id per idempotency key');
    assert.equal(await queue.client.xlen(queue.keys.dead), 0, 'nothing dead-lettered');
    assert.ok(reclaimed > 0, 'the kills hit jobs in flight, and those were run again');
    // A sample through the HTTP API of the restarted server.
    for (const i of [0, 1, 99, N - 1]) {
      const a = (await (await fetch(`${server!.url}/predict/${ids[i]}`)).json()) as { status: string };
      assert.equal(a.status, isBad(i) ? 'failed' : 'completed');
    }
    console.log(`# ${N} jobs: ${completed} completed, ${failed} failed as expected, ${reclaimed} run more than once, ` +
      `${retries} submit retries around the server kill; ${elapsed.toFixed(1)} s (${Math.round(N / elapsed)} jobs/s)`);
  });
});
