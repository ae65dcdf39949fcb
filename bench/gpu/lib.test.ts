// bench/gpu's pure parts (skip rules, inputs, report parsing, ratios) and the conv model
// generator's output loading on native-cpu. A few seconds at most: no measurement runs here.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BackendRegistry } from '../../src/index.ts';
import { createNativeBackends } from '../../runtimes/native/backends.ts';
import {
  MAP_PROBE_SCHEMA, MEASURE_SCHEMA, outputAgreement, parseMapProbe, scaling, parseBatches, parseMeasureReport, parseServedReport, ratios, renderMarkdown, seededFloats,
  servedRatio, SERVED_SCHEMA, skipReason, type MeasurePlan, type MeasureReport, type ServedReport,
} from './lib.ts';

const plan: MeasurePlan = { batches: [1, 64, 1024, 8192], seconds: 2, warmupSeconds: 0.5, maxRunMs: 8000, maxInputMiB: 1024, budgetSeconds: 100 };

test('parseBatches: sorted, unique, positive integers; anything else is an error', () => {
  assert.deepEqual(parseBatches('1024, 1,64,64'), [1, 64, 1024]);
  assert.throws(() => parseBatches(''), /expected/);
  assert.throws(() => parseBatches('1,0'), /not a positive integer/);
  assert.throws(() => parseBatches('1,2.5'), /not a positive integer/);
});

test('skipReason: input size, spent budget, projected run time, time left', () => {
  assert.equal(skipReason(plan, 8192, 32 * 2 ** 20, 1000), undefined);
  assert.match(skipReason(plan, 8192, 2048 * 2 ** 20, 1000)!, /input 2048 MiB > limit 1024 MiB/);
  assert.match(skipReason(plan, 1, 4, 100_000)!, /time budget of 100 s spent/);
  // 1024 rows took 86 ms: 8192 rows project to ~0.7 s, fine; 2 s at batch 1024 projects 16 s.
  assert.equal(skipReason(plan, 8192, 4, 10_000, { batch: 1024, p50Ms: 86 }), undefined);
  assert.match(skipReason(plan, 8192, 4, 10_000, { batch: 1024, p50Ms: 2000 })!, /projected 16\.0 s per run \(from batch 1024\) > limit 8\.0 s/);
  assert.match(skipReason(plan, 8192, 4, 97_000, { batch: 1024, p50Ms: 86 })!, /s of the time budget left/);
});

test('seededFloats: deterministic, in [-1, 1), a longer run starts with the shorter one', () => {
  const a = seededFloats(1000);
  const b = seededFloats(5000);
  assert.deepEqual(Array.from(a), Array.from(b.subarray(0, 1000)));
  assert.ok(a.every((x) => x >= -1 && x < 1));
  assert.notDeepEqual(Array.from(seededFloats(10, 1)), Array.from(seededFloats(10, 2)));
});

function fake(label: string, backend: string, rowsPerSec: Record<number, number>, head = [0.5]): MeasureReport {
  return {
    schema: MEASURE_SCHEMA, backend, label, host: { name: 'deno', version: '2.9.6' }, available: true, plan, startedAt: '',
    models: [{
      model: 'heavy-mlp', path: '/m/heavy-mlp.onnx',
      cases: Object.entries(rowsPerSec).map(([b, r]) => ({
        batch: Number(b), status: 'ok' as const, outputHead: head,
        measurement: { runs: 10, rows: 10 * Number(b), wallMs: 1000, rowsPerSec: r, latencyMs: { p50: 1, p90: 1, p99: 1, mean: 1, min: 1, max: 1 } },
      })),
    }],
  };
}

test('parseMeasureReport: checks the schema, fills the label', () => {
  const r = fake('x', 'native-cpu', { 1: 1 });
  const { label: _, ...noLabel } = r;
  assert.equal(parseMeasureReport(JSON.stringify(noLabel)).label, 'native-cpu');
  assert.throws(() => parseMeasureReport('{"schema":"other"}'), /not a bench\/gpu measure report/);
  assert.throws(() => parseMeasureReport(`{"schema":"${MEASURE_SCHEMA}"}`), /lacks backend/);
});

test('ratios: the issue goals on heavy-mlp at batch 1024 (figures measured on an H100 before)', () => {
  // 1024 rows in 86 ms (CPU), 9.0 ms (native WebGPU), 203 ms (web WebGPU in Deno).
  const reports = [
    fake('native-cpu', 'native-cpu', { 1024: 1024 / 0.086 }, [0.5]),
    fake('native-webgpu', 'native-webgpu', { 1024: 1024 / 0.009 }, [0.5001]),
    fake('web-webgpu', 'web-webgpu', { 1024: 1024 / 0.203 }, [0.52]),
  ];
  const q = ratios(reports);
  const nat = q.find((x) => x.name === 'native WebGPU ÷ CPU')!;
  assert.ok(Math.abs(nat.value! - 86 / 9) < 1e-9);
  assert.equal(nat.met, true);
  const web = q.find((x) => x.name === 'web WebGPU ÷ native WebGPU')!;
  assert.ok(Math.abs(web.value! - 9 / 203) < 1e-9);
  assert.equal(web.met, false);
  const missing = ratios([reports[0]!]).find((x) => x.name === 'native WebGPU ÷ CPU')!;
  assert.equal(missing.value, null);
  assert.match(missing.note!, /native-webgpu not measured at batch 1024/);
  const agree = outputAgreement(reports);
  assert.equal(agree.length, 2);
  assert.ok(Math.abs(agree.find((a) => a.label === 'web-webgpu')!.maxRelDiff - 0.02) < 1e-9);
  const md = renderMarkdown({ machine: { gpu: 'H100' }, rehearsal: false, reports, ratios: q, agreement: agree, notes: ['n1'] });
  assert.match(md, /\| native WebGPU ÷ CPU \| heavy-mlp \| 1024 \| 9\.56× \| ≥ 9 \| yes \|/);
  assert.match(md, /\| web WebGPU ÷ native WebGPU \| heavy-mlp \| 1024 \| 0\.04× \| ≥ 0\.33 \(within 3×\) \| no \|/);
  assert.match(md, /- n1/);
  const two = fake('web-webgpu', 'web-webgpu', { 1: 1 / 0.19, 1024: 1024 / 0.203 });
  const [s] = scaling([two]);
  assert.equal(s!.small, 1);
  assert.equal(s!.large, 1024);
  assert.match(renderMarkdown({ machine: {}, rehearsal: true, reports: [two], ratios: [], agreement: [], notes: [] }), /\| web-webgpu \| heavy-mlp \| 1 \| 1\.00 \| 1024 \| 1\.00 \| 100 % \|/);
});

test('conv-model.py: the generated model loads on native-cpu and scores [batch, 10]', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'omniserve-conv-'));
  try {
    // Debian's python3 with python3-onnx (scripts/setup.sh installs it): a failure here is a failure.
    execFileSync('/usr/bin/python3', ['bench/gpu/conv-model.py', dir], { stdio: 'pipe' });
    const backend = await new BackendRegistry(createNativeBackends().filter((b) => b.id === 'native-cpu')).resolve('native-cpu');
    const handle = await backend.createSession(new Uint8Array(readFileSync(join(dir, 'conv-resnet.onnx'))));
    assert.deepEqual(handle.inputs.map((s) => [s.name, s.dtype, s.shape.slice(1)]), [['x', 'float32', [3, 32, 32]]]);
    const out = await handle.run({ x: { dtype: 'float32', data: seededFloats(2 * 3 * 32 * 32), dims: [2, 3, 32, 32] } });
    assert.deepEqual(out['y']!.dims, [2, 10]);
    const y = Array.from(out['y']!.data as Float32Array);
    assert.ok(y.every(Number.isFinite) && y.some((v) => v !== 0), `logits ${y.join(', ')}`);
    await handle.release();
    const config = JSON.parse(readFileSync(join(dir, 'conv-resnet.config.json'), 'utf8')) as { inputs: { x: { shape: number[] } } };
    assert.deepEqual(config.inputs.x.shape, [3, 32, 32]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const servedRun = (label: string, backend: string | undefined, rowsPerSec?: number, reason?: string): ServedReport => ({
  schema: SERVED_SCHEMA, label, ...(backend ? { backend } : {}), host: { name: 'deno', version: '2.9.6' }, createdAt: '2026-11-26T00:00:00Z',
  settings: { model: 'heavy-mlp', rowsPerRequest: 1024, width: 1024, concurrency: 4, seconds: 20, warmupSeconds: 3 },
  available: rowsPerSec !== undefined, ...(rowsPerSec !== undefined ? { rowsPerSec, requests: 100, errors: 0, latencyMs: { p50: 80, p90: 90, p99: 120 } } : { reason }),
});

test('served: the ratio needs both servers on the backends asked for; a fallback does not count', () => {
  const cpu = servedRun('native-cpu', 'native-cpu', 2_000);
  const gpu = servedRun('native-webgpu', 'native-webgpu', 24_000);
  const q = servedRatio([cpu, gpu]);
  assert.equal(q.value, 12);
  assert.equal(q.met, true);
  assert.equal(q.goal, '≥ 5');
  assert.equal(q.batch, 1024);
  assert.equal(servedRatio([cpu, servedRun('native-webgpu', 'native-webgpu', 8_000)]).met, false);
  const fellBack = servedRatio([cpu, servedRun('native-webgpu', 'native-cpu', 2_100)]);
  assert.equal(fellBack.value, null);
  assert.match(fellBack.note!, /native-webgpu ran on native-cpu/);
  const down = servedRatio([cpu, servedRun('native-webgpu', undefined, undefined, 'the server was not ready within 120 s: HTTP 503')]);
  assert.equal(down.met, null);
  assert.match(down.note!, /not ready within 120 s/);
  assert.match(servedRatio([gpu]).note!, /native-cpu not measured/);
});

test('served: reports are checked when read; the Markdown has the table and the ratio', () => {
  const cpu = servedRun('native-cpu', 'native-cpu', 2_000);
  assert.deepEqual(parseServedReport(JSON.stringify(cpu)), cpu);
  assert.throws(() => parseServedReport(JSON.stringify({ ...cpu, schema: MEASURE_SCHEMA })), /not a bench\/gpu served report/);
  assert.throws(() => parseServedReport(JSON.stringify({ ...cpu, rowsPerSec: 0 })), /available without rows\/s/);
  const md = renderMarkdown({ machine: {}, rehearsal: false, reports: [], ratios: [], agreement: [], notes: [],
    served: [cpu, servedRun('native-webgpu', 'native-webgpu', 15_000)] });
  assert.match(md, /## Served/);
  assert.match(md, /\| native-webgpu \| native-webgpu \| 15\.0 k \|/);
  assert.match(md, /served: native WebGPU ÷ CPU: \*\*7\.50×\*\* \(goal ≥ 5: met\)/);
  assert.doesNotMatch(renderMarkdown({ machine: {}, rehearsal: false, reports: [], ratios: [], agreement: [], notes: [] }), /## Served/);
});

test('where a web WebGPU run goes, and the map probe: both rendered from what was measured', () => {
  const r = fake('web-webgpu', 'web-webgpu', { 1024: 1000 });
  const withCalls: MeasureReport = {
    ...r,
    models: [{ ...r.models[0]!, cases: [{ ...r.models[0]!.cases[0]!, gpuCalls: { mapAsync: { perRun: 1, msPerRun: 0.6 }, getMappedRange: { perRun: 2, msPerRun: 0.25 } } }] }],
  };
  const probe = parseMapProbe(JSON.stringify({
    schema: MAP_PROBE_SCHEMA, host: 'deno 2.9.6', adapter: 'NVIDIA H200',
    cases: [{ iterations: 1, mapAfterMs: 0, mapAsyncMs: { min: 10.3, p50: 11.38, max: 11.5 } }, { iterations: 1, mapAfterMs: 100, mapAsyncMs: { min: 11.3, p50: 11.36, max: 11.5 } }],
  }));
  const md = renderMarkdown({ machine: {}, rehearsal: false, reports: [withCalls], ratios: [], agreement: [], notes: [], mapProbe: probe });
  // mean 1 ms per run, 0.85 ms of it in the two calls: 0.15 ms left to onnxruntime-web.
  assert.match(md, /\| web-webgpu \| heavy-mlp \| 1024 \| 1\.00 \| 1\.0 × 0\.60 \| 2\.0 × 0\.25 \| 0\.15 \|/);
  assert.match(md, /\| 1 \| 11\.38 \(10\.30–11\.50\) \| 11\.36 \(11\.30–11\.50\) \| – \|/);
  assert.doesNotMatch(renderMarkdown({ machine: {}, rehearsal: false, reports: [r], ratios: [], agreement: [], notes: [] }), /Where a web WebGPU run goes|read-back floor/);
  assert.throws(() => parseMapProbe('{"schema":"x"}'), /not a bench\/gpu map probe/);
});
