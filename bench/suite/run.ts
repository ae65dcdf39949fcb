/**
 * `omniserve bench`: the cross-runtime benchmark suite. Runs the chosen scenarios (each a
 * bench/<scenario>/run.ts that starts what it needs and stops it afterwards) `--repeat`
 * times, one after the other (never in parallel: they would measure each other), reads
 * every run's figures against their same-run baselines, and writes bench/results/suite.json,
 * suite.md and SVG charts (suite-ratios.svg, suite-<scenario>.svg).
 *
 *   node --import tsx bench/suite/run.ts [--scenario core,realtime,async,stream,batch,browser]
 *       [--runtime node,bun,deno,workerd] [--backend native-cpu,web-wasm,...] [--quick] [--repeat N]
 *       [--collect]
 *
 * `--collect` runs nothing: it reads the scenarios' current bench/results/<scenario>.json
 * (each one run, as its own report says how and when it was made) and writes the suite's
 * files from them, e.g. after running the scenarios one by one at full length.
 *
 * Progress: a bar on a terminal (scenario, run, elapsed, the scenario's last log line),
 * plain lines otherwise. Each scenario's own output goes to .tmp/bench/suite/<scenario>-<n>.log,
 * its results file is kept as .tmp/bench/suite/<scenario>-<n>.json (bench/results/<scenario>
 * .json holds the last run, with that scenario's full report beside it).
 * @module
 */
import { spawn } from 'node:child_process';
import { copyFileSync, createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { describeMachine, sourceRevision } from '../core/machine.ts';
import { ratioChart, renderSvg, valueChart } from './charts.ts';
import { EXTRACT, fold, headline, type Figure } from './figures.ts';
import { renderSuiteMarkdown, type ScenarioOutcome, type ScenarioRun, type SuiteResults } from './report.ts';
import { RUNTIMES, SCENARIOS, plan, unsupported, type Scenario } from './scenarios.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RESULTS = join(ROOT, 'bench', 'results');
const WORK = join(ROOT, '.tmp', 'bench', 'suite');

const { values: args } = parseArgs({
  options: {
    scenario: { type: 'string', default: SCENARIOS.join(',') },
    runtime: { type: 'string', default: 'node,bun,deno' },
    backend: { type: 'string', default: '' },
    quick: { type: 'boolean', default: false },
    repeat: { type: 'string' },
    help: { type: 'boolean', default: false },
    collect: { type: 'boolean', default: false },
  },
});
const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);
const fail = (msg: string): never => {
  process.stderr.write(`omniserve bench: ${msg}\n`);
  process.exit(2);
};
if (args.help) {
  process.stdout.write(`${readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]!.replace(/^\/\*\*\n| \* ?/gm, '')}\n`);
  process.exit(0);
}
const scenarios = list(args.scenario) as Scenario[];
for (const s of scenarios) if (!SCENARIOS.includes(s)) fail(`unknown scenario "${s}": expected ${SCENARIOS.join(', ')}`);
const runtimes = list(args.runtime);
for (const r of runtimes) if (!(RUNTIMES as readonly string[]).includes(r)) fail(`unknown runtime "${r}": expected ${RUNTIMES.join(', ')}`);
const repeat = args.collect ? 1 : Number(args.repeat ?? (args.quick ? 1 : 3));
if (!Number.isInteger(repeat) || repeat < 1) fail('--repeat must be a positive integer');
const sel = { runtimes, backends: list(args.backend), quick: args.quick };

mkdirSync(WORK, { recursive: true });
const tty = process.stderr.isTTY === true;
const say = (line: string) => process.stderr.write(`${line}\n`);
const loadBefore = os.loadavg();
const t0 = performance.now();
const elapsed = () => Math.round((performance.now() - t0) / 1000);

const plans = scenarios.map((s) => ({ scenario: s, plan: args.collect ? collected(s) : plan(s, sel) }));

/** `--collect`: the scenario's results file as it is, one run. */
function collected(s: Scenario): ReturnType<typeof plan> {
  return existsSync(join(RESULTS, `${s}.json`))
    ? { run: true, script: `bench/${s}/run.ts`, args: [], runtimes: [] }
    : { run: false, why: `no bench/results/${s}.json to collect` };
}
const steps = plans.filter((p) => p.plan.run).length * repeat;
for (const note of unsupported(sel)) say(`note: ${note}`);
for (const p of plans) if (!p.plan.run) say(`skip ${p.scenario}: ${p.plan.why}`);

const bar = tty
  ? new cliProgress.SingleBar({
    format: '{bar} {value}/{total} | {scenario} run {run} | {elapsed}s | {last}',
    barsize: 24, hideCursor: true, clearOnComplete: false, stream: process.stderr,
  }, cliProgress.Presets.shades_classic)
  : undefined;
bar?.start(steps, 0, { scenario: '', run: '', elapsed: 0, last: '' });

/** Runs one scenario script to its end; its output goes to `log`, its last line to the bar. */
function runScript(script: string, scriptArgs: readonly string[], log: string, label: { scenario: string; run: string }): Promise<number> {
  return new Promise((resolve) => {
    const out = createWriteStream(log);
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...scriptArgs], {
      cwd: ROOT, env: { ...process.env, FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let partial = '';
    const onData = (d: Buffer) => {
      out.write(d);
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      const last = lines.filter((l) => l.trim()).at(-1);
      if (last) {
        if (bar) bar.update({ ...label, elapsed: elapsed(), last: last.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').slice(0, 70) });
        else for (const l of lines) if (l.trim()) say(`  [${label.scenario}] ${l}`);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const tick = setInterval(() => bar?.update({ ...label, elapsed: elapsed() }), 1000);
    child.on('error', (e) => { out.write(`\nspawn failed: ${e.message}\n`); });
    child.on('close', (code, signal) => {
      clearInterval(tick);
      out.end();
      resolve(code ?? (signal ? 128 : 1));
    });
  });
}

const outcomes: ScenarioOutcome[] = [];
const figures: Figure[] = [];
let step = 0;
for (const { scenario, plan: p } of plans) {
  if (!p.run) {
    outcomes.push({ scenario, status: 'skipped', why: p.why, runs: [] });
    continue;
  }
  const runs: ScenarioRun[] = [];
  for (let n = 1; n <= repeat; n++) {
    const label = { scenario, run: `${n}/${repeat}` };
    if (!bar) say(`[${elapsed()}s] ${scenario} run ${n}/${repeat}: node --import tsx ${p.script} ${p.args.join(' ')}`);
    bar?.update(step, { ...label, elapsed: elapsed(), last: 'starting' });
    const log = join(WORK, `${scenario}-${n}.log`);
    const resultsFile = join(RESULTS, `${scenario}.json`);
    const s0 = performance.now();
    const before = existsSync(resultsFile) && !args.collect ? readFileSync(resultsFile, 'utf8') : undefined;
    const code = args.collect ? 0 : await runScript(p.script, p.args, log, label);
    const seconds = Math.round((performance.now() - s0) / 100) / 10;
    const after = existsSync(resultsFile) ? readFileSync(resultsFile, 'utf8') : undefined;
    if (code !== 0 || after === undefined || after === before) {
      runs.push({ n, seconds, code, log: log.slice(ROOT.length), error: code !== 0 ? `exit code ${code}` : 'wrote no new results file' });
    } else {
      const kept = join(WORK, `${scenario}-${n}.json`);
      copyFileSync(resultsFile, kept);
      const mine = EXTRACT[scenario]!(JSON.parse(after));
      figures.push(...mine);
      runs.push({ n, seconds, code, log: log.slice(ROOT.length), figures: mine.length });
    }
    step++;
    bar?.update(step, { ...label, elapsed: elapsed() });
    if (!bar) say(`[${elapsed()}s] ${scenario} run ${n}/${repeat}: ${runs.at(-1)!.error ?? `${runs.at(-1)!.figures} figures`} (${seconds} s)`);
  }
  const ok = runs.filter((r) => !r.error).length;
  const made = args.collect ? collectedCommand(scenario) : undefined;
  outcomes.push({
    scenario, status: ok === runs.length ? 'ok' : ok > 0 ? 'partial' : 'failed', runs, runtimes: p.runtimes,
    command: made ?? `node --import tsx ${p.script} ${p.args.join(' ')}`.trim(),
  });
}
bar?.stop();

/** The command and date a collected results file records (its own `command`, `date`). */
function collectedCommand(s: Scenario): string {
  try {
    const j = JSON.parse(readFileSync(join(RESULTS, `${s}.json`), 'utf8')) as { command?: string; date?: string };
    return `collected bench/results/${s}.json${j.date ? ` of ${j.date}` : ''}${j.command ? `, made by: ${j.command}` : ''}`;
  } catch {
    return `collected bench/results/${s}.json`;
  }
}

const folded = fold(figures);
const command = ['omniserve bench', ...process.argv.slice(2)].join(' ');
const results: SuiteResults = {
  benchmark: 'suite', date: new Date().toISOString(), command, revision: sourceRevision(ROOT),
  seconds: elapsed(), machine: describeMachine(ROOT, loadBefore), selection: { scenarios, runtimes, backends: sel.backends, quick: sel.quick, repeat },
  notes: unsupported(sel), outcomes, figures: folded,
};
writeFileSync(join(RESULTS, 'suite.json'), `${JSON.stringify(results, null, 2)}\n`);
const charts: string[] = [];
if (folded.length) {
  writeFileSync(join(RESULTS, 'suite-ratios.svg'), await renderSvg(ratioChart(headline(folded), 'omniserve against its baselines (headline figures)')));
  charts.push('suite-ratios.svg');
  for (const s of new Set(folded.map((f) => f.scenario))) {
    writeFileSync(join(RESULTS, `suite-${s}.svg`), await renderSvg(valueChart(folded, s)));
    charts.push(`suite-${s}.svg`);
  }
}
writeFileSync(join(RESULTS, 'suite.md'), renderSuiteMarkdown(results, charts));
say(`wrote bench/results/suite.json, suite.md${charts.length ? `, ${charts.join(', ')}` : ''} in ${elapsed()} s`);
process.exit(outcomes.some((o) => o.status === 'failed' || o.status === 'partial') ? 1 : 0);
