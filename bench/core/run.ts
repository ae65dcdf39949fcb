/**
 * bench/core on every host × backend pair, one after the other (never in parallel: the
 * pairs would measure each other). Writes bench/results/core.json and core.md.
 *
 *   node --import tsx bench/core/run.ts [--quick | --seconds S] [--pairs node:native-cpu,deno:web-webgpu,…]
 *
 * A pair whose backend probe fails is recorded as skipped with the reason; one that
 * crashes or hangs (killed after a timeout) as failed with its last stderr lines.
 * @module
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, relative } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BACKEND_IDS, type BackendId } from '../../src/backends/types.ts';
import { describeMachine, sourceRevision } from './machine.ts';
import { renderMarkdown } from './report.ts';
import { RAW_MEANS, type CoreResults, type PairOutcome, type PairReport } from './types.ts';

const DEFAULT_PAIRS = [
  'node:native-cpu', 'node:web-wasm', 'bun:native-cpu', 'bun:web-wasm', 'deno:native-cpu', 'deno:web-wasm', 'deno:web-webgpu',
];
const root = fileURLToPath(new URL('../../', import.meta.url));
const bench = join('bench', 'core', 'core.bench.ts');
const bin = (name: string) => join('node_modules', '.bin', name);
/** How each host runs a TypeScript file (relative paths: run from the repository root). */
const HOSTS: Readonly<Record<string, readonly string[]>> = {
  node: ['node', '--import', 'tsx'],
  bun: [bin('bun')],
  deno: [bin('deno'), 'run', '-A'],
};
// Node children run on the very node running this script, not on whichever one PATH finds.
const executable = (argv0: string) => (argv0 === 'node' ? process.execPath : join(root, argv0));

const { values: args } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, seconds: { type: 'string' }, pairs: { type: 'string' } },
});
const seconds = args.seconds !== undefined ? Number(args.seconds) : args.quick ? 0.25 : 1;
if (!(seconds > 0)) throw new Error(`--seconds ${args.seconds}: expected a positive number`);
const pairs = args.pairs ? args.pairs.split(',').map((s) => s.trim()).filter(Boolean) : DEFAULT_PAIRS;
for (const p of pairs) {
  const [host, backend] = p.split(':');
  if (!host || !HOSTS[host] || !BACKEND_IDS.includes(backend as BackendId)) {
    throw new Error(`--pairs: "${p}" is not host:backend with host in ${Object.keys(HOSTS).join(', ')} and backend in ${BACKEND_IDS.join(', ')}`);
  }
}
// core.bench spends 9 cases × 3 paths × 1.1 S (measurement + warm-up); twice that plus a
// minute covers start-up and slow single calls (WebGPU on llvmpipe: ~0.5 s per digits×1024 call).
const timeoutS = 60 + 2 * 9 * 3 * 1.1 * seconds;

interface ChildEnd {
  readonly code: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  /** Why the child could not be started at all. */
  readonly spawnError?: string;
  readonly stderrTail: string;
}

/** Runs one child with its stderr streamed through (the live table); kills it at the timeout. */
function runChild(argv: readonly string[]): Promise<ChildEnd> {
  return new Promise((resolve) => {
    const child = spawn(executable(argv[0]!), argv.slice(1), { cwd: root, stdio: ['ignore', 'inherit', 'pipe'] });
    let stderrTail = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutS * 1000);
    child.stderr.on('data', (d: Buffer) => {
      process.stderr.write(d);
      stderrTail = (stderrTail + d.toString()).slice(-4000);
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, timedOut, spawnError: e.message, stderrTail });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, timedOut, stderrTail });
    });
  });
}

/** The last `n` meaningful stderr lines: the error message, not stack frames or Mesa's noise. */
function lastLines(text: string, n: number): string {
  return text.split('\n').map((l) => l.trim())
    .filter((l) => l && !l.startsWith('at ') && !l.startsWith('Node.js v') && !l.startsWith('error: XDG_RUNTIME_DIR'))
    .slice(-n).join(' / ');
}

function failure(end: ChildEnd): string {
  if (end.spawnError) return `could not start: ${end.spawnError}`;
  if (end.timedOut) return `killed after the ${Math.round(timeoutS)} s timeout; last output: ${lastLines(end.stderrTail, 1)}`;
  return `exited with ${end.signal ?? `code ${end.code}`}: ${lastLines(end.stderrTail, 4)}`;
}

async function runPair(pair: string, dir: string): Promise<PairOutcome> {
  const [host, backend] = pair.split(':') as [string, string];
  const benchArgs = [bench, '--backend', backend, '--seconds', String(seconds)];
  const command = [...HOSTS[host]!, ...benchArgs].join(' ');
  const json = join(dir, `${host}-${backend}.json`);
  process.stderr.write(`\n== ${pair}: ${command}\n`);
  const t0 = performance.now();
  const end = await runChild([...HOSTS[host]!, ...benchArgs, '--json', json]);
  const base = { pair, command, seconds: Math.round((performance.now() - t0) / 100) / 10 };
  let report: PairReport | undefined;
  if (existsSync(json)) report = JSON.parse(readFileSync(json, 'utf8')) as PairReport;
  if (report?.error) return { ...base, status: 'skipped', reason: report.error, report };
  if (end.code === 0 && report) return { ...base, status: 'ok', report };
  // A report from a failed run holds the cases measured before it died.
  return { ...base, status: 'failed', reason: failure(end), ...(report ? { report } : {}) };
}

const loadBefore = os.loadavg();
// Taken before the run: other work may land in the checkout while the pairs run.
const revision = sourceRevision(root);
const started = new Date();
const dir = mkdtempSync(join(os.tmpdir(), 'omniserve-bench-core-'));
const outcomes: PairOutcome[] = [];
try {
  for (const p of pairs) outcomes.push(await runPair(p, dir));
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const results: CoreResults = {
  benchmark: 'core',
  date: started.toISOString(),
  command: ['node', ...process.execArgv, relative(root, process.argv[1]!), ...process.argv.slice(2)].join(' '),
  revision,
  seconds,
  machine: describeMachine(root, loadBefore),
  rawMeans: RAW_MEANS,
  pairs: outcomes,
};
const out = join(root, 'bench', 'results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'core.json'), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(join(out, 'core.md'), renderMarkdown(results));
process.stderr.write(`\n${outcomes.map((o) => `${o.pair}: ${o.status}${o.reason ? ` (${o.reason})` : ''}, ${o.seconds} s`).join('\n')}\n` +
  `wrote ${relative(process.cwd(), join(out, 'core.json'))} and core.md\n`);
