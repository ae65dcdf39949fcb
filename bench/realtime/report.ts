/**
 * bench/results/realtime.md from the collected results: per host, hello-world and omniserve
 * requests/s, their ratio, p50/p99 and the goals; the heavy model's served vs raw rows/s;
 * every wrk run with its errors.
 * @module
 */
import { fmtMs, fmtRate, fmtRatio, mdEscape, mdRow, reproduceSection } from '../core/format.ts';
import { cpuCeiling, median } from './stats.ts';
import { GOALS, type HeavyHost, type RealtimeResults, type WrkRun } from './types.ts';

const verdict = (ok: boolean) => (ok ? '**yes**' : '**NO**');
/** A table cell: `f(x)`, or empty when there is no figure. */
const num = (x: number | undefined, f: (x: number) => string) => (x === undefined || Number.isNaN(x) ? '' : f(x));
const us = (x: number) => x.toFixed(0);

function realtimeTable(res: RealtimeResults): string[] {
  const lines = [
    mdRow(['host', 'server', 'req/s (median)', '×hello', '×floor', 'p50 ms', 'p99 ms', 'goal: ×hello', 'goal: p99 ≤ 10 ms',
      'server CPU µs/req', 'Redis CPU µs/req', 'wrk CPU µs/req', 'CPU ceiling ×hello', 'flags']),
    mdRow(['---', '---', '---:', '---:', '---:', '---:', '---:', '---', '---', '---:', '---:', '---:', '---:', '---']),
  ];
  const hello = res.settings.variants.find((v) => v.kind === 'hello');
  const floor = res.settings.variants.find((v) => v.kind === 'floor');
  for (const h of res.realtime) {
    const floorRps = floor && h.summary[floor.id]?.requestsPerSec;
    for (const v of res.settings.variants) {
      const s = h.summary[v.id];
      if (!s) continue;
      const ratio = h.ratio[v.id];
      const clean = s.problems.length === 0;
      const goalRatio = GOALS.ratio[h.host];
      // The goals are omniserve's; the floor is a yardstick, not a candidate.
      const judged = v.kind === 'omniserve';
      lines.push(mdRow([
        h.host, v.title, fmtRate(s.requestsPerSec), ratio === undefined ? '1.00× (baseline)' : `**${fmtRatio(ratio)}**`,
        v.kind === 'floor' ? '1.00× (floor)' : judged && floorRps ? fmtRatio(s.requestsPerSec / floorRps) : '',
        fmtMs(s.p50Ms), fmtMs(s.p99Ms),
        !judged ? '' : clean ? `${verdict(ratio !== undefined && ratio >= goalRatio)} (≥ ${goalRatio.toFixed(2)}×)` : 'n/a (errors)',
        !judged ? '' : clean ? verdict(s.p99Ms <= GOALS.p99Ms) : 'n/a (errors)',
        num(s.serverCpuUs, us), num(s.redisCpuUs, us), num(s.wrkCpuUs, us),
        v.kind === 'hello' ? '' : num(cpuCeiling(hello && h.summary[hello.id], s), fmtRatio),
        clean ? '' : `**${s.problems.length} flagged run(s)**`,
      ]));
    }
    if (h.status === 'failed') lines.push(mdRow([h.host, `**failed**: ${mdEscape(h.reason ?? '')}`, '', '', '', '', '', '', '', '', '', '', '', '']));
  }
  return lines;
}

function heavyTable(heavy: readonly HeavyHost[]): string[] {
  const lines = [
    mdRow(['host', 'backend', 'raw rows/s (batch 64)', 'raw p50 ms', 'infer ×raw', 'predict ×raw', 'served 64-row requests: rows/s (×raw)',
      'p50 / p99 ms', 'served 1-row requests: rows/s (×raw)', 'p50 / p99 ms', 'served 64-row binary OIP requests: rows/s (×raw)', 'p50 / p99 ms',
      'rows/batch', `goal: 64-row ×raw ≥ ${GOALS.heavyRatio} (JSON / binary)`]),
    mdRow(['---', '---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---']),
  ];
  const pooled = (h: HeavyHost, k: 'raw' | 'infer' | 'predict') =>
    h.raw.reduce((n, r) => n + r[k].rows, 0) / (h.raw.reduce((t, r) => t + r[k].wallMs, 0) / 1000);
  for (const h of heavy) {
    const r = h.raw[0];
    const cell = (id: string) => {
      const s = h.served[id];
      if (!s) return ['', ''];
      return [`${fmtRate(s.rowsPerSec)} (**${fmtRatio(s.ratio)}**)${s.problems.length ? ' **flagged**' : ''}`, `${fmtMs(s.p50Ms)} / ${fmtMs(s.p99Ms)}`];
    };
    const b = h.served['batch64'];
    const bin = h.served['binary64'];
    const goal = (s: typeof b) => (!s ? '' : s.problems.length ? 'n/a (errors)' : verdict(s.ratio >= GOALS.heavyRatio));
    const batchRows = ['batch64', 'single'].map((id) => h.served[id]?.meanBatchRows).map((x) => (x === undefined ? '' : x.toFixed(1))).join(' / ');
    lines.push(mdRow([
      h.host, r?.backend ?? '',
      h.rawRowsPerSec === undefined ? '' : `${fmtRate(h.rawRowsPerSec)} (slices: ${h.raw.map((x) => fmtRate(x.raw.rowsPerSec)).join(', ')})`,
      r ? fmtMs(median(h.raw.map((x) => x.raw.latencyMs.p50))) : '',
      r ? fmtRatio(pooled(h, 'infer') / pooled(h, 'raw')) : '', r ? fmtRatio(pooled(h, 'predict') / pooled(h, 'raw')) : '',
      ...cell('batch64'), ...cell('single'), ...cell('binary64'), batchRows,
      !b ? `failed: ${mdEscape(h.reason ?? '')}` : bin ? `${goal(b)} / ${goal(bin)}` : goal(b),
    ]));
    if (b && h.status === 'failed') lines.push(mdRow([h.host, `**failed**: ${mdEscape(h.reason ?? '')}`, '', '', '', '', '', '', '', '', '', '', '', '']));
  }
  return lines;
}

function runsTable(runs: readonly (WrkRun & { host: string })[]): string[] {
  const lines = [
    mdRow(['host', 'server', 'round', 'start s', 'warm-up req/s', 'req/s', 'requests', 'p50', 'p75', 'p90', 'p99 ms',
      'rows/batch', 'run ms', 'Redis ms', 'in-server ms', 'server CPU µs/req', 'Redis CPU µs/req', 'wrk CPU µs/req', 'problems']),
    mdRow(['---', '---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---']),
  ];
  for (const r of runs) {
    const l = r.result.latencyMs;
    lines.push(mdRow([r.host, r.variant, r.round, r.startSeconds.toFixed(1), fmtRate(r.warmupRequestsPerSec), fmtRate(r.result.requestsPerSec),
      r.result.requests, fmtMs(l.p50), fmtMs(l.p75), fmtMs(l.p90), fmtMs(l.p99),
      num(r.stats?.meanBatchRows, (x) => x.toFixed(1)), num(r.stats?.meanInferenceMs, fmtMs), num(r.stats?.meanFeatureStoreMs, fmtMs),
      num(r.stats?.meanRequestMs, fmtMs), num(r.cpu?.serverUsPerRequest, us), num(r.cpu?.redisUsPerRequest, us),
      num(r.cpu?.wrkUsPerRequest, us), mdEscape(r.problems.join('; '))]));
  }
  return lines;
}

/** Renders the Markdown report. */
export function renderMarkdown(res: RealtimeResults): string {
  const m = res.machine;
  const s = res.settings;
  const example = res.realtime[0]?.runs.find((r) => r.variant === 'omniserve');
  const heavyExample = res.heavy[0]?.served['batch64']?.runs[0];
  return [
    `# bench/realtime: HTTP serving under wrk load${res.command.includes('--diagnose') ? ' (diagnostic variants)' : ''}`,
    '',
    `${res.date} · ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB · ${m.os} · load average ${m.loadavg.before.join(' ')} before, ` +
      `${m.loadavg.after.join(' ')} after. The server, wrk and Redis share these ${m.cores} cores (and the machine is shared with other work): ` +
      'compare the ratios, measured side by side in this run, not absolute numbers across runs.',
    '',
    `Code: ${res.revision}. Runtimes: ${Object.entries(m.runtimes).map(([k, v]) => `${k} ${v}`).join(', ')}; ` +
      `${Object.entries(m.onnxruntime).map(([k, v]) => `${k} ${v}`).join(', ')}; wrk ${m.wrk}; redis-server ${m.redis}. Whole run: ${Math.round(res.seconds)} s.`,
    '',
    '## Realtime: `POST /predict {user_id, item_id}`, breast-cancer, Redis features, cache off',
    '',
    `Redis holds ${s.users.toLocaleString('en-US')} \`user:{id}\` hashes (${res.seed?.userFields} features each) and ` +
      `${s.items.toLocaleString('en-US')} \`item:{id}\` hashes (${res.seed?.itemFields}); wrk (post.lua) draws both ids at random per request, ` +
      `${s.threads} threads, ${s.connections} connections. Each server is started fresh on the host, answers one smoke request ` +
      `(omniserve: all 30 features found), gets ${s.warmupS} s of wrk warm-up, then ${s.durationS} s measured. ` +
      `The servers take turns (${s.variants.map((v) => v.id).join(', ')}; ${s.rounds} round(s)); figures are medians over rounds. ` +
      '**×hello** = omniserve req/s ÷ the Hono hello-world POST endpoint\'s (bench/realtime/hello.ts: parses the JSON body, same listener) on the same host. ' +
      '**×floor** = omniserve req/s ÷ the hand-written floor\'s (bench/realtime/floor.ts: the same job, two Redis hashes through omniserve\'s Redis reader, ' +
      'one onnxruntime-node run per event-loop turn, the same reply, in one Hono route with no validation library, metrics, errors or config): ' +
      'what omniserve itself costs, apart from the job. ' +
      '**CPU µs/req**: CPU time (user + system, from /proc) the server process and its workers, redis-server, and wrk itself spent per request over the measured ' +
      'seconds; it moves far less than req/s when other work takes the cores, so it tells where the cost is. ' +
      '**CPU ceiling ×hello**: the ×hello omniserve would reach if it kept the cores as busy as hello-world does, from CPU per request alone: ' +
      '(hello server + its wrk) ÷ (omniserve server + Redis + its wrk). All three share the cores, so this is the most the ratio can be on this machine ' +
      'while Redis lookups cost what they do; the measured ×hello sits below it by the idle time left while requests wait on Redis round trips. ' +
      'A run with non-2xx responses or socket errors is flagged and never counts as meeting a goal.',
    '',
    ...realtimeTable(res),
    '',
    '## Heavy model: MLP 1024→4096→4096→4096→1, served vs raw in-process',
    '',
    `${s.heavy.model} (${(s.heavy.params / 1e6).toFixed(1)} M parameters, ${(s.heavy.bytes / 2 ** 20).toFixed(0)} MiB), generated at benchmark time by ` +
      '`bench/realtime/heavy-model.py`. **raw**: bench/core\'s interleaved measurement in a separate process on the same host ' +
      `(\`heavy-raw.ts --stdin\`): \`InferenceHandle.run\` on a pre-built 64×1024 tensor, on the backend \`omniserve serve\` picks ` +
      '(`auto`), with infer and predict beside it. **served**: `omniserve serve` with the model alone (no feature store, cache off), wrk (1 thread) POSTing ' +
      '`{"instances": [...]}` to `/v1/models/heavy-mlp/predict`: 64 rows per request over 8 connections, or 1 row per request over 64 connections ' +
      '(coalesced by the batcher into runs of up to 64), and the 64 rows as an Open Inference Protocol request to `/v2/models/heavy-mlp/infer` with the ' +
      'tensor as binary data (`Inference-Header-Content-Length`: no JSON numbers to parse, one model run per request) over 8 connections; ' +
      'rows/s = req/s × rows per request. The raw process and the server hold the model side by side and ' +
      `take turns, after ${s.warmupS} s of wrk warm-up per case: ${s.heavy.rounds} rounds of (raw ${s.heavy.rawSeconds} s per path, ` +
      `64-row ${s.heavy.servedSeconds} s, 1-row ${s.heavy.servedSeconds} s, binary ${s.heavy.servedSeconds} s), then one more raw slice, so load from elsewhere weighs on both alike. ` +
      '**×raw** = served rows/s ÷ raw rows/s, each pooled over its slices (rows ÷ seconds). rows/batch: mean rows per model run in the server (64-row / 1-row case).',
    '',
    ...(res.heavy.length ? heavyTable(res.heavy) : ['(not run)']),
    '',
    '## Every wrk run',
    '',
    'rows/batch, run ms, Redis ms and in-server ms are means from omniserve\'s own /metrics over the measured seconds: rows per model run ' +
      '(how many requests the batcher coalesced), time of one model run, of one feature-store lookup (user + item hashes), and of a request inside the server.',
    '',
    ...runsTable(res.realtime.flatMap((h) => h.runs.map((r) => ({ ...r, host: h.host })))),
    ...(res.heavy.length ? ['', ...runsTable(res.heavy.flatMap((h) => Object.values(h.served).flatMap((x) => x.runs.map((r) => ({ ...r, host: h.host })))))] : []),
    '',
    ...reproduceSection(res.command),
    ...(example ? [`One server by hand: \`${example.server.join(' ')}\` (config in .tmp/bench/realtime/, Redis from the run is gone: ` +
      'start one and run `node --import tsx bench/realtime/seed-redis.ts redis://127.0.0.1:6379`), then ' +
      `\`${example.wrk.replace(/http:\/\/\S+/, 'http://127.0.0.1:PORT/predict')}\`.`] : []),
    ...(heavyExample ? ['', `Heavy model: \`${heavyExample.wrk.replace(/http:\/\/127\.0\.0\.1:\d+/, 'http://127.0.0.1:PORT')}\`.`] : []),
    '',
    'Raw wrk output of every run, warm-up figures, server command lines and the in-process measurements (p90, mean, min, max) are in `realtime.json`.',
    '',
  ].join('\n');
}
