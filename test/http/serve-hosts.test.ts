// `omniserve serve` as users run it, on Node, Bun and Deno: one real server per host (port 0,
// URL read from the listening line) fed the whole bad-request corpus on every endpoint, then
// a good request, then SIGTERM with 50 requests in flight.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binaryBody } from '../../src/http/binary-body.ts';
import { badRequestCorpus, CORPUS_LIMITS, type BadCase } from './bad-requests.case.ts';
import {
  leaksInternals, missingHost, rawRequest, readHttpResponse, ROOT, SERVE_HOSTS, startServe, type RawResponse, type ServeProcess,
} from '../support/serve-process.ts';
import type { ExitStatus } from '../support/process.ts';

interface Golden {
  inputs: Record<string, { data: number[] }>;
  outputs: Record<string, { data: number[] }>;
  records: Record<string, number>[];
}
const readGolden = (name: string) => JSON.parse(readFileSync(join(ROOT, `test/fixtures/goldens/${name}.json`), 'utf8')) as Golden;
const bc = readGolden('breast-cancer');
const wine = readGolden('wine-mixed');
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const DRAIN_TIMEOUT_MS = 3_000;

const corpus = badRequestCorpus({
  bcRecords: bc.records,
  wineNumeric: wine.inputs['numeric']!.data,
  wineBuckets: wine.inputs['buckets']!.data,
});

let tmp: string;
let configPath: string;
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'omniserve-serve-hosts-'));
  const features = Object.fromEntries(bc.records.map((r, i) => [`user:${i}`, r]));
  writeFileSync(join(tmp, 'features.json'), JSON.stringify(features));
  configPath = join(tmp, 'omniserve.json');
  writeFileSync(configPath, JSON.stringify({
    server: { port: 0, host: '127.0.0.1', ...CORPUS_LIMITS, drainTimeoutMs: DRAIN_TIMEOUT_MS },
    models: [
      { path: join(ROOT, 'test/fixtures/models/breast-cancer.onnx') },
      { path: join(ROOT, 'test/fixtures/models/wine-mixed.onnx') },
      { path: join(ROOT, 'test/fixtures/models/breast-cancer-fp16.onnx') },
      // Slow enough per batch that `workers: auto` serves it from a worker thread, which the
      // SIGTERM tests below then see shut down with the server.
      { path: join(ROOT, 'test/fixtures/models/slow-matmul.onnx') },
    ],
    // Relative to the config file.
    featureStore: { kind: 'memory', path: 'features.json' },
    cache: { kind: 'memory' },
  }));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

const show = (r: RawResponse) => `HTTP ${r.status}${r.error ? ` (${r.error})` : ''}: ${r.text.slice(0, 600)}`;

/** Every check a bad request's answer must pass. */
function checkBad(c: BadCase, r: RawResponse): void {
  assert.equal(r.error, undefined, `no clean answer: ${show(r)}`);
  assert.ok(c.status.includes(r.status), `status ${r.status}, expected ${c.status.join(' or ')}: ${show(r)}`);
  assert.match(String(r.headers['content-type'] ?? ''), /^application\/json/, `content type of ${show(r)}`);
  let body: { error?: unknown; code?: unknown; details?: Record<string, unknown> };
  try {
    body = JSON.parse(r.text) as typeof body;
  } catch {
    assert.fail(`the body is not JSON: ${show(r)}`);
  }
  assert.ok(body !== null && typeof body === 'object' && !Array.isArray(body), show(r));
  assert.equal(typeof body.error, 'string', show(r));
  assert.ok((body.error as string).length > 0, show(r));
  assert.equal(typeof body.code, 'string', show(r));
  assert.ok(c.code.includes(body.code as string), `code ${String(body.code)}, expected ${c.code.join(' or ')}: ${show(r)}`);
  if (c.detailsFeature !== undefined) assert.equal(body.details?.['feature'], c.detailsFeature, `details.feature: ${show(r)}`);
  if (c.detailsInput !== undefined) assert.equal(body.details?.['input'], c.detailsInput, `details.input: ${show(r)}`);
  const leak = leaksInternals(r.text);
  assert.equal(leak, undefined, `the answer leaks ${leak}: ${show(r)}`);
}

async function postJson(url: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

// ---- SIGTERM with work in flight ----

/** Known drain bugs, per host (none now). */
const SIGTERM_TODO: Record<'node' | 'bun' | 'deno', { inFlight?: string; midBody?: string; exit?: string }> = { node: {}, bun: {}, deno: {} };

type Answer = Pick<RawResponse, 'status' | 'text' | 'error'>;
interface SigtermRun {
  results: Answer[];
  slow: Answer;
  exit: ExitStatus | 'timeout';
  exitedAfterMs: number;
  tail: string;
}

/**
 * A keep-alive client sends the headers and half the body of a /predict, 50 concurrent
 * requests go out, SIGTERM follows the first answer; the slow client finishes its body
 * 200 ms later and keeps its connection open, as a load balancer would.
 */
async function sigtermScenario(s: ServeProcess): Promise<SigtermRun> {
  const slowBody = JSON.stringify({ user_id: 5 });
  const sock = connect(s.port, '127.0.0.1');
  sock.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  sock.write(`POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${slowBody.length}\r\n\r\n${slowBody.slice(0, 6)}`);
  const slowAnswer = readHttpResponse(sock, DRAIN_TIMEOUT_MS + 2_000);
  let signalledAt = 0;
  let signalled!: () => void;
  const signal = new Promise<void>((r) => (signalled = r));
  // Distinct bodies, so the prediction cache answers none of them.
  const requests = Array.from({ length: 50 }, (_, k) =>
    fetch(`${s.url}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ instances: bc.records.map((r) => ({ ...r, request: k })) }),
      signal: AbortSignal.timeout(DRAIN_TIMEOUT_MS + 5_000),
    }).then(
      async (res): Promise<Answer> => {
        if (signalledAt === 0) {
          signalledAt = Date.now();
          s.proc.child.kill('SIGTERM');
          signalled();
        }
        return { status: res.status, text: await res.text() };
      },
      (e: unknown): Answer => ({ status: 0, text: '', error: String((e as Error).cause ?? e) }),
    ));
  await Promise.race([signal, Promise.all(requests)]);
  if (signalledAt === 0) {
    signalledAt = Date.now();
    s.proc.child.kill('SIGTERM');
  }
  await new Promise((r) => setTimeout(r, 200));
  sock.write(slowBody.slice(6));
  const [results, slow] = await Promise.all([Promise.all(requests), slowAnswer]);
  const exit = await Promise.race([
    s.proc.exited,
    new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), Math.max(0, signalledAt + DRAIN_TIMEOUT_MS + 2_000 - Date.now())).unref()),
  ]);
  const exitedAfterMs = Date.now() - signalledAt;
  sock.destroy();
  if (exit === 'timeout') await s.proc.stop({ signal: 'SIGKILL' });
  return { results, slow, exit, exitedAfterMs, tail: s.proc.outputTail() };
}

/** A drain-time answer must be a 200 (with its predictions) or a clean JSON 503. */
function checkDrainAnswer(r: Answer, what: string, counts: { ok: number; refused: number }, rows: number | undefined): void {
  assert.equal(r.error, undefined, `${what} got no answer: ${r.error}`);
  if (r.status === 200) {
    const body = JSON.parse(r.text) as { predictions?: { probability: number }[]; probability?: number };
    if (rows !== undefined) {
      assert.equal(body.predictions?.length, rows, r.text.slice(0, 300));
      body.predictions!.forEach((p, i) =>
        assert.ok(Math.abs(p.probability - sigmoid(bc.outputs['logit']!.data[i]!)) <= 1e-4, `${what} row ${i}`));
    } else {
      assert.equal(typeof body.probability, 'number', r.text);
    }
    counts.ok++;
    return;
  }
  assert.equal(r.status, 503, `${what}: HTTP ${r.status} ${r.text}`);
  const body = JSON.parse(r.text) as { error: string; code: string };
  assert.equal(body.code, 'SHUTTING_DOWN', r.text);
  assert.equal(typeof body.error, 'string');
  assert.equal(leaksInternals(r.text), undefined, r.text);
  counts.refused++;
}

for (const host of SERVE_HOSTS) {
  describe(`omniserve serve on ${host.name}`, { skip: missingHost(host), timeout: 120_000 }, () => {
    let server: ServeProcess | undefined;
    before(async () => {
      server = await startServe(host, configPath);
    });
    after(async () => {
      if (server && !server.proc.hasExited()) await server.stop(2_000);
    });

    test('listening line: url, port, host, models', { timeout: 10_000 }, () => {
      const l = server!.listening;
      assert.equal(l['event'], 'listening');
      assert.match(server!.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.ok(server!.port > 0);
      assert.equal(l['host'], host.name);
      assert.deepEqual(l['models'], ['breast-cancer@1', 'wine-mixed@1', 'breast-cancer-fp16@1', 'slow-matmul@1']);
    });

    for (const c of corpus) {
      test(c.name, { timeout: 20_000, ...(c.todo ? { todo: c.todo } : {}) }, async () => {
        checkBad(c, await rawRequest(server!.url, c.request));
      });
    }

    test('after the corpus: a good /predict, the float16 model (JSON and binary) and /health answer 200', { timeout: 20_000 }, async () => {
      for (const i of [0, 7, 31]) {
        const { status, json } = await postJson(`${server!.url}/predict`, { user_id: i });
        assert.equal(status, 200, JSON.stringify(json));
        assert.ok(Math.abs((json['probability'] as number) - sigmoid(bc.outputs['logit']!.data[i]!)) <= 1e-4, JSON.stringify(json));
      }
      // The float16 model on this host: JSON numbers in and out, and the raw bits as binary data.
      const fp16 = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/goldens/breast-cancer-fp16.json'), 'utf8')) as {
        inputs: { features: { bits: number[] } }; outputs: { logit: { bits: number[]; values: number[] } };
      };
      const h = await postJson(`${server!.url}/v2/models/breast-cancer-fp16/infer`, { inputs: [{ name: 'features', shape: [32, 30], datatype: 'FP16', data: bc.inputs['features']!.data }] });
      assert.equal(h.status, 200, JSON.stringify(h.json));
      const [hout] = h.json['outputs'] as { datatype: string; data: number[] }[];
      assert.equal(hout!.datatype, 'FP16');
      hout!.data.forEach((x, i) => assert.ok(Math.abs(x - fp16.outputs.logit.values[i]!) <= Math.abs(fp16.outputs.logit.values[i]!) * 2 ** -10 + 1e-7, `fp16 logit[${i}] ${x}`));
      const bits = Uint16Array.from(fp16.inputs.features.bits);
      const bin = binaryBody({ inputs: [{ name: 'features', shape: [32, 30], datatype: 'FP16', parameters: { binary_data_size: bits.byteLength } }], parameters: { binary_data_output: true } }, [bits]);
      const res = await fetch(`${server!.url}/v2/models/breast-cancer-fp16/infer`, {
        method: 'POST', body: bin.body, signal: AbortSignal.timeout(10_000),
        headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(bin.headerLength) },
      });
      assert.equal(res.status, 200);
      const bytes = new Uint8Array(await res.arrayBuffer());
      const out = new Uint16Array(bytes.slice(Number(res.headers.get('inference-header-content-length'))).buffer);
      fp16.outputs.logit.bits.forEach((b, i) => assert.ok(Math.abs(out[i]! - b) <= 1, `fp16 logit[${i}]: bits ${out[i]}, numpy ${b}`));
      // The slow model runs in a worker thread on this host (workers: auto), and answers.
      const rows = [0, 1].map((k) => Array.from({ length: 2048 }, (_, i) => ((i * (k + 3)) % 11) - 5));
      const slow = await postJson(`${server!.url}/v2/models/slow-matmul/infer`, { inputs: [{ name: 'x', shape: [2, 2048], datatype: 'FP32', data: rows.flat() }] });
      assert.equal(slow.status, 200, JSON.stringify(slow.json));
      const means = (slow.json['outputs'] as { data: number[] }[])[0]!.data;
      rows.forEach((r, k) => assert.ok(Math.abs(means[k]! - r.reduce((a, b) => a + b, 0) / 2048) < 1e-4, `slow-matmul row ${k}: ${means[k]}`));
      const health = await fetch(`${server!.url}/health`, { signal: AbortSignal.timeout(10_000) });
      const hj = (await health.json()) as { status: string; models: { name: string; runs_in?: string }[] };
      assert.equal(health.status, 200, JSON.stringify(hj));
      assert.equal(hj.status, 'healthy');
      assert.match(hj.models.find((m) => m.name === 'slow-matmul')?.runs_in ?? '', /worker thread/, JSON.stringify(hj.models));
      assert.equal(hj.models.find((m) => m.name === 'breast-cancer')?.runs_in, undefined);
      assert.ok(!server!.proc.hasExited(), 'the server is still running');
    });

    // One SIGTERM per server, observed by three tests: what the 50 in-flight requests got,
    // what a client caught mid-body got, and how the process ended.
    let run: Promise<SigtermRun> | undefined;
    const sigterm = () => (run ??= sigtermScenario(server!));
    const todo = SIGTERM_TODO[host.name];

    test('SIGTERM right after the first of 50 concurrent requests answers: each gets 200 or a clean 503', { timeout: 60_000, ...(todo.inFlight ? { todo: todo.inFlight } : {}) }, async (t) => {
      const r = await sigterm();
      const counts = { ok: 0, refused: 0 };
      const problems: string[] = [];
      r.results.forEach((res, k) => {
        try {
          checkDrainAnswer(res, `request ${k}`, counts, 32);
        } catch (e) {
          problems.push((e as Error).message.split('\n')[0]!);
        }
      });
      t.diagnostic(`${host.name}: ${counts.ok} × 200, ${counts.refused} × 503, ${problems.length} bad`);
      assert.deepEqual(problems, [], `${problems.length} of 50 in-flight requests got no clean answer (${counts.ok} × 200, ${counts.refused} × 503)`);
      assert.ok(counts.ok >= 1, 'at least the first request was answered');
    });

    test('SIGTERM: a client caught mid-body gets 200 or a clean 503', { timeout: 60_000, ...(todo.midBody ? { todo: todo.midBody } : {}) }, async () => {
      const r = await sigterm();
      checkDrainAnswer(r.slow, 'the mid-body request', { ok: 0, refused: 0 }, undefined);
    });

    test('SIGTERM: exits 0 within the drain timeout and prints "stopped"', { timeout: 60_000, ...(todo.exit ? { todo: todo.exit } : {}) }, async () => {
      const r = await sigterm();
      const tail = r.tail.split('\n').filter((l) => l.startsWith('omniserve')).join('\n');
      assert.notEqual(r.exit, 'timeout', `still running ${DRAIN_TIMEOUT_MS + 2_000} ms after SIGTERM\n${tail}`);
      assert.deepEqual(r.exit, { code: 0, signal: null }, `exit ${JSON.stringify(r.exit)} ${r.exitedAfterMs} ms after SIGTERM\n${tail}`);
      assert.ok(r.exitedAfterMs < DRAIN_TIMEOUT_MS, `exited ${r.exitedAfterMs} ms after SIGTERM (drain timeout ${DRAIN_TIMEOUT_MS} ms)`);
      assert.match(r.tail, /omniserve serve: stopped/);
    });
  });
}
