/**
 * bench/core, one host × backend: in-process throughput and latency of the fixture models at
 * batch 1, 64 and 1024, on three paths: `raw` (the backend's session, see RAW_MEANS),
 * `infer` (Model.infer: validation + run) and `predict` (Model.predict: records → tensors,
 * run, post-processing). Runs on Node (`node --import tsx`), Bun and Deno (`deno run -A`).
 *
 *   core.bench.ts [--backend native-cpu|web-wasm|web-webgpu|…] [--seconds S | --quick] [--json PATH]
 *
 * Exit code 3 (with a report naming the reason) when the backend's probe fails.
 * @module
 */
import { writeFileSync } from 'node:fs';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { BackendRegistry, Model, messageOf, type Backend, type BackendId, type FeatureRecord, type TensorData } from '../../src/index.ts';
import { BACKEND_IDS } from '../../src/backends/types.ts';
import { createNativeRuntime } from '../../runtimes/native/runtime.ts';
import { cycleRecords, loadFixture, MODELS, tileFeeds, tileRows, type Fixture } from './fixtures.ts';
import { fmtMs, fmtRate, fmtRatio } from './format.ts';
import { KINDS, measureInterleaved, type TimingPlan } from './measure.ts';
import { RAW_MEANS, type CaseResult, type PairReport } from './types.ts';

const BATCHES = [1, 64, 1024] as const;
/** Short turns interleave the paths finely enough that load bursts on a shared machine hit all three. */
const TURN_SECONDS = 0.05;

const { values: args } = parseArgs({
  options: {
    backend: { type: 'string', default: 'native-cpu' },
    seconds: { type: 'string' },
    quick: { type: 'boolean', default: false },
    json: { type: 'string' },
  },
});
const backendId = args.backend as BackendId;
if (!BACKEND_IDS.includes(backendId)) throw new Error(`--backend ${args.backend}: expected one of ${BACKEND_IDS.join(', ')}`);
const seconds = args.seconds !== undefined ? Number(args.seconds) : args.quick ? 0.25 : 1;
if (!(seconds > 0)) throw new Error(`--seconds ${args.seconds}: expected a positive number`);
const plan: TimingPlan = { seconds, turnSeconds: TURN_SECONDS, warmupSeconds: seconds / 10 };

const runtime = createNativeRuntime();
const registry = new BackendRegistry(runtime.backends);
const host = { name: runtime.host.name, version: runtime.host.version };
const log = (line: string) => process.stderr.write(`${line}\n`);

/** Writes the report (after every case too, so a run that dies later keeps what it measured). */
function save(report: PairReport): void {
  if (args.json) writeFileSync(args.json, `${JSON.stringify(report, null, 2)}\n`);
}

/** Exits at once with the code run.ts reads (3: skipped), whatever handles a backend left open. */
function finish(report: PairReport, code: number): never {
  save(report);
  process.exit(code);
}

let backend: Backend;
try {
  backend = await registry.resolve(backendId);
} catch (e) {
  log(`${host.name} × ${backendId}: backend unavailable: ${messageOf(e)}`);
  finish({ host, backend: backendId, error: messageOf(e), plan, rawMeans: RAW_MEANS, results: [] }, 3);
}
const probe = registry.status().find((s) => s.id === backendId)?.info;

/**
 * Fails the run when the three paths do not score the same rows: raw's first output must
 * match the goldens (tiled), infer must equal raw, predict must give one result per row.
 */
async function check(f: Fixture, model: Model, records: readonly FeatureRecord[], raw: Record<string, TensorData>, infer: Record<string, TensorData>) {
  const batch = records.length;
  const [name, golden] = Object.entries(f.outputs)[0]!;
  const want = tileRows(golden, batch);
  const got = raw[name]!.data;
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(Number(got[i]) - want[i]!) <= 1e-4 * Math.max(1, Math.abs(want[i]!)))) {
      throw new Error(`${f.name} batch ${batch}: raw ${name}[${i}] = ${got[i]}, golden ${want[i]}`);
    }
    if (infer[name]!.data[i] !== got[i]) throw new Error(`${f.name} batch ${batch}: infer and raw differ at ${name}[${i}]`);
  }
  const results = await model.predict(records);
  if (results.length !== batch) throw new Error(`${f.name} batch ${batch}: predict gave ${results.length} results`);
}

log(`${host.name} ${host.version} × ${backendId} (${JSON.stringify(probe)}), ${seconds} s per path in turns of ${TURN_SECONDS} s`);
log(`${RAW_MEANS}`);
log(['model'.padEnd(14), 'batch'.padStart(5), 'path'.padEnd(8), 'runs'.padStart(7), 'rows/s'.padStart(11),
  'p50 ms', 'p90 ms', 'p99 ms', 'mean ms'].map((s) => s.padStart(8)).join(' ') + '     ×raw');

const results: CaseResult[] = [];
for (const name of MODELS) {
  const f = loadFixture(name);
  const handle = await backend.createSession(f.bytes);
  // One session for all three paths, so the ratios measure omniserve's layers only, not two
  // sessions' thread pools competing for the same cores.
  const model = await Model.create({
    name, version: '1', bytes: f.bytes, config: f.config, backend: { ...backend, createSession: async () => handle },
  });
  for (const batch of BATCHES) {
    const feeds = tileFeeds(f, batch);
    const records = cycleRecords(f, batch);
    await check(f, model, records, await handle.run(feeds), await model.infer(feeds));
    const m = await measureInterleaved({
      raw: () => handle.run(feeds),
      infer: () => model.infer(feeds),
      predict: () => model.predict(records),
    }, batch, plan);
    const ratio = { infer: m.infer.rowsPerSec / m.raw.rowsPerSec, predict: m.predict.rowsPerSec / m.raw.rowsPerSec };
    results.push({ model: name, batch, ...m, ratio });
    save({ host, backend: backendId, probe, plan, rawMeans: RAW_MEANS, results });
    for (const k of KINDS) {
      const { runs, rowsPerSec, latencyMs: l } = m[k];
      const x = k === 'raw' ? '' : fmtRatio(ratio[k]);
      log([name.padEnd(14), String(batch).padStart(5), k.padEnd(8), String(runs).padStart(7), fmtRate(rowsPerSec).padStart(11),
        ...[l.p50, l.p90, l.p99, l.mean].map(fmtMs)].map((s) => s.padStart(8)).join(' ') + x.padStart(9));
    }
  }
  await model.release();
}
finish({ host, backend: backendId, probe, plan, rawMeans: RAW_MEANS, results }, 0);
