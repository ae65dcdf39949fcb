// bench/realtime's reading of wrk output: units, optional lines, and post.lua's summary.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseWrk, parseWrkTime, runWrk, wrkProblems } from './wrk.ts';

const CLEAN = `Running 3s test @ http://127.0.0.1:43035/predict
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.56ms   17.08ms 254.27ms   97.19%
    Req/Sec    11.01k     3.89k   18.53k    69.49%
  Latency Distribution
     50%  812.00us
     75%    3.54ms
     90%    5.95ms
     99%    1.05s
  64869 requests in 3.01s, 11.07MB read
Requests/sec:  21556.65
Transfer/sec:      3.68MB
`;

const ERRORS = `Running 1s test @ http://127.0.0.1:43035/nope
  2 threads and 8 connections
  Latency Distribution
     50%  401.00us
     75%  552.00us
     90%    2.91ms
     99%   11.53ms
  16923 requests in 1.10s, 2.99MB read
  Socket errors: connect 0, read 3, write 0, timeout 12
  Non-2xx or 3xx responses: 16923
Requests/sec:  15375.31
Transfer/sec:      2.71MB
wrk-lua {"requests":16923,"durationUs":1100661,"bytes":3130755,"non2xx":16923,"firstStatus":404,"firstBody":"404 Not Found","errors":{"connect":0,"read":3,"write":0,"status":16923,"timeout":12},"latencyUs":{"p50":401,"p75":552,"p90":2906,"p99":11529,"mean":1119.7,"max":24675}}
`;

test('wrk times in every unit become milliseconds', () => {
  assert.equal(parseWrkTime('812.00us'), 0.812);
  assert.equal(parseWrkTime('2.58ms'), 2.58);
  assert.equal(parseWrkTime('1.05s'), 1050);
  assert.equal(parseWrkTime('1.50m'), 90_000);
  assert.throws(() => parseWrkTime('12'), /not a wrk time/);
});

test('a clean run: requests/s, count, duration and the text latency distribution', () => {
  const r = parseWrk(CLEAN);
  assert.equal(r.requestsPerSec, 21556.65);
  assert.equal(r.requests, 64869);
  assert.equal(r.seconds, 3.01);
  assert.deepEqual(r.latencyMs, { p50: 0.812, p75: 3.54, p90: 5.95, p99: 1050 });
  assert.equal(r.non2xx, 0);
  assert.deepEqual(r.socketErrors, { connect: 0, read: 0, write: 0, timeout: 0 });
  assert.equal(r.lua, undefined);
  assert.deepEqual(wrkProblems(r), []);
});

test('errors are read and flagged; post.lua percentiles (exact µs) win over the rounded text', () => {
  const r = parseWrk(ERRORS);
  assert.equal(r.non2xx, 16923);
  assert.deepEqual(r.socketErrors, { connect: 0, read: 3, write: 0, timeout: 12 });
  assert.equal(r.latencyMs.p90, 2.906);
  assert.equal(r.lua?.firstStatus, 404);
  const problems = wrkProblems(r);
  assert.equal(problems.length, 2);
  assert.match(problems[0]!, /16923 non-2xx responses \(first: 404 404 Not Found\)/);
  assert.match(problems[1]!, /read 3, write 0, timeout 12/);
});

test('output without a latency distribution is an error, not a zero', () => {
  assert.throws(() => parseWrk(CLEAN.replace(/^\s+99%.*$/m, '')), /no 99% latency/);
  assert.throws(() => parseWrk('garbage'), /no "N requests in T" line/);
});

test('post.lua sends a binary body file with the headers asked for (Content-Type replaced), byte for byte', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'omniserve-wrk-'));
  const body = Uint8Array.from({ length: 4096 }, (_, i) => (i * 37) & 0xff); // every byte value, NULs included
  const file = join(dir, 'body.bin');
  writeFileSync(file, body);
  const seen: { type?: string; extra?: string; ok: boolean }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (seen.length < 50) seen.push({ type: req.headers['content-type'], extra: req.headers['inference-header-content-length'] as string, ok: Buffer.concat(chunks).equals(body) });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const port = (server.address() as { port: number }).port;
    const { result } = await runWrk({ url: `http://127.0.0.1:${port}/x`, threads: 1, connections: 1, seconds: 1, bodyFile: file,
      headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': '17' } });
    assert.ok(result.requests > 0);
    assert.deepEqual(wrkProblems(result), []);
    assert.ok(seen.length > 0);
    for (const s of seen) assert.deepEqual(s, { type: 'application/octet-stream', extra: '17', ok: true });
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
