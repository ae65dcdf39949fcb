// Async serving on every host that runs the CLI: `omniserve serve` on Node, Bun and Deno
// takes jobs over HTTP into one Redis queue; an `omniserve worker` on each host drains it
// (jobs land on whichever worker claims them) and serves its own /metrics, which promtool
// accepts and which count what that worker did.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startRedis, type RedisServer } from '../support/redis-server.ts';
import type { ManagedProcess } from '../support/process.ts';
import { ROOT, SERVE_HOSTS, startServe, startWorker, type ServeProcess } from '../support/serve-process.ts';
import { bc, FEATURES, wantProbability } from '../support/golden.ts';
import { promtool } from '../support/http-app.ts';

const JOBS_PER_HOST = 20;

describe('async on Node, Bun and Deno: servers submit, workers drain one Redis queue, each worker serves /metrics', { timeout: 240_000 }, () => {
  let tmp: string;
  let redis: RedisServer;
  let config: string;
  const servers: ServeProcess[] = [];
  const workers: { host: string; proc: ManagedProcess; metricsUrl: string }[] = [];

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'omniserve-async-hosts-'));
    redis = await startRedis();
    const c = new Redis(redis.url);
    try {
      const p = c.pipeline();
      for (let u = 0; u < 32; u++) p.hset(`user:${u}`, Object.fromEntries(FEATURES.map((f) => [f, String(bc.records[u]![f])])));
      await p.exec();
    } finally {
      c.disconnect();
    }
    config = join(tmp, 'omniserve.json');
    writeFileSync(config, JSON.stringify({
      server: { port: 0, host: '127.0.0.1' },
      models: [{ path: join(ROOT, 'test/fixtures/models/breast-cancer.onnx') }],
      featureStore: { kind: 'redis', url: redis.url },
      queue: { kind: 'redis', url: redis.url, inProcessWorker: false },
    }));
    await Promise.all(SERVE_HOSTS.flatMap((h) => [
      startServe(h, config).then((s) => void servers.push(s)),
      startWorker(h, config, { extraArgs: ['--metrics-port', '0'], timeoutMs: 90_000 })
        .then((w) => void workers.push({ host: h.name, proc: w.proc, metricsUrl: String(w.line['metrics_url']) })),
    ]));
  });
  after(async () => {
    await Promise.all([...servers.map((s) => s.stop(5_000)), ...workers.map((w) => w.proc.stop({ graceMs: 5_000 }))]);
    await redis?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test('every job submitted to any host completes with the golden answer; the workers\' /metrics add up', async () => {
    const submitted: { id: string; user: number }[] = [];
    for (const s of servers) {
      for (let i = 0; i < JOBS_PER_HOST; i++) {
        const user = (i * 7 + servers.indexOf(s)) % 32;
        const res = await fetch(`${s.url}/predict/async`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user_id: user }),
        });
        assert.equal(res.status, 202, `${s.host.name}: ${await res.clone().text()}`);
        submitted.push({ id: String(((await res.json()) as { request_id: string }).request_id), user });
      }
    }
    for (const [k, job] of submitted.entries()) {
      const s = servers[k % servers.length]!; // read back through any host
      let body: Record<string, any> = {}; // eslint-disable-line @typescript-eslint/no-explicit-any
      for (const t0 = Date.now(); Date.now() - t0 < 60_000;) {
        body = (await (await fetch(`${s.url}/predict/${job.id}`)).json()) as typeof body;
        if (body['status'] === 'completed' || body['status'] === 'failed') break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(body['status'], 'completed', JSON.stringify(body));
      assert.ok(Math.abs(body['result']['probability'] - wantProbability(job.user)) <= 1e-4, `job ${k} via ${s.host.name}`);
    }
    let completed = 0;
    for (const w of workers) {
      const res = await fetch(w.metricsUrl);
      assert.equal(res.status, 200, `${w.host} /metrics`);
      const text = await res.text();
      const check = await promtool(text);
      assert.equal(check.code, 0, `${w.host}: promtool: ${check.out}`);
      const m = /^omniserve_jobs_completed_total\{model="breast-cancer"\} (\d+)$/m.exec(text);
      completed += m ? Number(m[1]) : 0;
      assert.equal((await fetch(w.metricsUrl.replace('/metrics', '/predict'), { method: 'POST' })).status, 404, `${w.host}: a worker takes no predictions`);
    }
    assert.equal(completed, submitted.length, 'each job counted once, by the worker that ran it');
  });
});
