/**
 * The heavy model's in-process baseline, on the host that runs this file: bench/core's
 * interleaved measurement of raw (`InferenceHandle.run`), infer and predict at batch 64, on
 * the backend `omniserve serve` picks by default (`auto`), with one intra-op thread per core
 * as the server gives this model (`workers: auto` puts it in one worker thread with every
 * core: runtimes/serve/build-server.ts). onnxruntime's own default used one thread here
 * (30 ms per 64-row run on the 2-core machine against 20 ms with 2 threads), which made the
 * served figure look faster than raw. run.ts divides the served rows/s by raw's.
 *
 *   node --import tsx bench/realtime/heavy-raw.ts --model .tmp/bench/heavy-mlp.onnx [--seconds 2]
 *   node --import tsx bench/realtime/heavy-raw.ts --model … --stdin
 *
 * Prints one JSON line ({@link HeavyRawReport}) on stdout. With `--stdin` it loads the model,
 * prints `{"event":"ready"}`, then measures once per stdin line `measure SECONDS` (one
 * report line each) until stdin ends: run.ts keeps it loaded and alternates its slices with
 * the served ones, so load from elsewhere on a shared machine weighs on both alike.
 * @module
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import process from 'node:process';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { BackendRegistry, Model, tensorFromNumbers } from '../../src/index.ts';
import { createNativeRuntime } from '../../runtimes/native/runtime.ts';
import { measureInterleaved, type TimingPlan } from '../core/measure.ts';
import { HEAVY_BATCH, heavyRows } from './heavy-inputs.ts';
import type { HeavyRawReport } from './types.ts';

const { values: args } = parseArgs({
  options: { model: { type: 'string' }, seconds: { type: 'string', default: '2' }, stdin: { type: 'boolean', default: false } },
});
if (!args.model) throw new Error('--model PATH is required (made by bench/realtime/heavy-model.py)');

const runtime = createNativeRuntime();
const backend = await new BackendRegistry(runtime.backends).resolve('auto');
const bytes = new Uint8Array(readFileSync(args.model));
const config = JSON.parse(readFileSync(args.model.replace(/\.onnx$/, '.config.json'), 'utf8')) as unknown;
const handle = await backend.createSession(bytes, { threads: availableParallelism() });
// One session for the three paths (as bench/core): their ratios are omniserve's layers only.
const model = await Model.create({ name: 'heavy-mlp', version: '1', bytes, config, backend: { ...backend, createSession: async () => handle } });
const rows = heavyRows(HEAVY_BATCH);
const feeds = { x: tensorFromNumbers('float32', rows.flat(), [HEAVY_BATCH, rows[0]!.length], 'x') };
const records = rows.map((x) => ({ x }));

/** Measures the three paths for `seconds` each; prints the report line. */
async function measure(seconds: number): Promise<void> {
  if (!(seconds > 0)) throw new Error(`seconds: expected a positive number, got ${seconds}`);
  // Turns of a quarter second: several ~30-150 ms runs each, rotating which path goes first.
  const plan: TimingPlan = { seconds, turnSeconds: Math.max(0.25, seconds / 8), warmupSeconds: Math.min(0.5, seconds / 4) };
  const m = await measureInterleaved({
    raw: () => handle.run(feeds),
    infer: () => model.infer(feeds),
    predict: () => model.predict(records),
  }, HEAVY_BATCH, plan);
  const report: HeavyRawReport = { host: { name: runtime.host.name, version: runtime.host.version }, backend: backend.id, batch: HEAVY_BATCH, plan, ...m };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

if (args.stdin) {
  process.stdout.write(`${JSON.stringify({ event: 'ready', backend: backend.id })}\n`);
  for await (const line of createInterface({ input: process.stdin })) {
    const m = /^measure\s+([\d.]+)\s*$/.exec(line);
    if (m) await measure(Number(m[1]));
    else if (line.trim()) process.stdout.write(`${JSON.stringify({ event: 'error', message: `unknown command: ${line}` })}\n`);
  }
} else {
  await measure(Number(args.seconds));
}
await model.release();
process.exit(0);
