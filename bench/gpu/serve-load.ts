/**
 * bench/gpu's served measurement: a small HTTP load generator (fetch only, so it runs on the
 * Deno that bench/gpu carries; the GPU machine has no wrk) against an `omniserve serve` that
 * run.sh started on one backend. It posts Open Inference Protocol requests of `--rows` rows
 * with the tensor as binary data (the binary tensor data extension: no JSON numbers to parse
 * on either side, so the figure is the server and its backend, not a JSON parser), from
 * `--concurrency` loops for `--seconds` after `--warmup`, and writes one served report.
 *
 *   deno run -A serve-load.mjs --url http://127.0.0.1:P --model heavy-mlp --label native-webgpu
 *       [--rows 1024] [--width 1024] [--concurrency 4] [--seconds 20] [--warmup 3]
 *       [--wait-s 120] [--json out.served.json]
 *   deno run -A serve-load.mjs --label native-webgpu --unavailable "why" --json out.served.json
 *
 * It first waits (up to `--wait-s`) for `/v2/health/ready`, then reads `/health` for the
 * backend the server really uses. A run in which every request failed, or none was sent, is
 * recorded with `available: false` and the reason; nothing here throws past `main`.
 * @module
 */
import { writeFileSync } from 'node:fs';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { binaryBody } from '../../src/http/binary-body.ts';
import { percentile } from '../core/stats.ts';
import { positive, seededFloats, SERVED_SCHEMA, type ServedReport } from './lib.ts';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    model: { type: 'string', default: 'heavy-mlp' },
    input: { type: 'string', default: 'x' },
    label: { type: 'string' },
    rows: { type: 'string', default: '1024' },
    width: { type: 'string', default: '1024' },
    concurrency: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
    'wait-s': { type: 'string', default: '120' },
    json: { type: 'string' },
    /** Write an unavailable report with this reason and send nothing (the server died first). */
    unavailable: { type: 'string' },
  },
});

const host = (globalThis as { Deno?: { version: { deno: string } } }).Deno
  ? { name: 'deno', version: (globalThis as unknown as { Deno: { version: { deno: string } } }).Deno.version.deno }
  : { name: 'node', version: process.version };

async function main(): Promise<ServedReport> {
  if (!args.label) throw new Error('--label is required');
  if (args.unavailable !== undefined) {
    return { schema: SERVED_SCHEMA, label: args.label, host, createdAt: new Date().toISOString(), available: false, reason: args.unavailable };
  }
  if (!args.url) throw new Error('--url is required');
  const base = args.url.replace(/\/$/, '');
  const rows = positive('rows', args.rows!);
  const width = positive('width', args.width!);
  const concurrency = positive('concurrency', args.concurrency!);
  const seconds = positive('seconds', args.seconds!);
  const warmup = Number(args.warmup);
  const settings = { model: args.model!, rowsPerRequest: rows, width, concurrency, seconds, warmupSeconds: warmup };
  const report = (extra: Partial<ServedReport>): ServedReport => ({
    schema: SERVED_SCHEMA, label: args.label!, host, createdAt: new Date().toISOString(), settings, available: false, ...extra,
  });

  // Ready, then which backend the model runs on.
  const until = Date.now() + positive('wait-s', args['wait-s']!) * 1000;
  let lastError = 'no answer';
  for (;;) {
    try {
      const r = await fetch(`${base}/v2/health/ready`);
      await r.body?.cancel();
      if (r.ok) break;
      lastError = `HTTP ${r.status}`;
    } catch (e) {
      lastError = (e as Error).message;
    }
    if (Date.now() > until) return report({ reason: `the server was not ready within ${args['wait-s']} s: ${lastError}` });
    await new Promise((r) => setTimeout(r, 250));
  }
  const health = (await (await fetch(`${base}/health`)).json()) as { models?: { name: string; backend?: string }[] };
  const backend = health.models?.find((m) => m.name === args.model)?.backend ?? 'unknown';

  const { body, headerLength } = binaryBody({
    inputs: [{ name: args.input, shape: [rows, width], datatype: 'FP32', parameters: { binary_data_size: rows * width * 4 } }],
    parameters: { binary_data_output: true },
  }, [seededFloats(rows * width)]);
  const url = `${base}/v2/models/${encodeURIComponent(args.model!)}/infer`;
  const headers = { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(headerLength) };

  let errors = 0;
  let firstError: string | undefined;
  const one = async (): Promise<boolean> => {
    try {
      const r = await fetch(url, { method: 'POST', headers, body });
      const bytes = new Uint8Array(await r.arrayBuffer());
      if (!r.ok) throw new Error(`HTTP ${r.status}: ${new TextDecoder().decode(bytes.subarray(0, 300))}`);
      // Every row must come back: the answer's binary part holds one float32 per row.
      const n = Number(r.headers.get('inference-header-content-length'));
      if (!(n > 0) || bytes.byteLength - n !== rows * 4) throw new Error(`answer of ${bytes.byteLength} bytes (header ${n}) for ${rows} rows`);
      return true;
    } catch (e) {
      errors++;
      firstError ??= (e as Error).message;
      return false;
    }
  };
  const loop = async (stopAt: number, lat: number[] | undefined) => {
    while (performance.now() < stopAt) {
      const t = performance.now();
      const ok = await one();
      if (ok && lat) lat.push(performance.now() - t);
    }
  };
  if (warmup > 0) await Promise.all(Array.from({ length: concurrency }, () => loop(performance.now() + warmup * 1000, undefined)));
  errors = 0;
  firstError = undefined;
  const lat: number[] = [];
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, () => loop(t0 + seconds * 1000, lat)));
  const elapsed = (performance.now() - t0) / 1000;
  if (lat.length === 0) return report({ backend, reason: `no request succeeded: ${firstError ?? 'none sent'}`, errors });
  lat.sort((a, b) => a - b);
  const q = (p: number) => percentile(lat, p * 100);
  return report({
    available: true, backend, requests: lat.length, errors, ...(firstError ? { firstError } : {}), seconds: elapsed,
    rowsPerSec: (lat.length * rows) / elapsed, latencyMs: { p50: q(0.5), p90: q(0.9), p99: q(0.99) },
  });
}

let out: ServedReport;
try {
  out = await main();
} catch (e) {
  out = {
    schema: SERVED_SCHEMA, label: args.label ?? 'unknown', host, createdAt: new Date().toISOString(), available: false,
    reason: (e as Error).message,
  };
}
const line = out.available
  ? `${out.label} served (${out.backend}): ${out.rowsPerSec!.toFixed(0)} rows/s, p50 ${out.latencyMs!.p50.toFixed(1)} ms, p99 ${out.latencyMs!.p99.toFixed(1)} ms, ${out.requests} requests, ${out.errors} errors`
  : `${out.label} served: unavailable (${out.reason})`;
console.log(line);
if (args.json) writeFileSync(args.json, `${JSON.stringify(out, null, 2)}\n`);
process.exit(0);
