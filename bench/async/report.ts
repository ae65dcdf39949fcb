/**
 * bench/results/async.md from the collected results.
 * @module
 */
import { fmtMs, fmtRate, fmtRatio, reproduceSection } from '../core/format.ts';
import type { AsyncResults, AsyncRun } from './types.ts';

const row = (cells: readonly (string | number)[]) => `| ${cells.join(' | ')} |`;
const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
const lat = (r: AsyncRun, k: 'queueLatencyMs' | 'endToEndLatencyMs') =>
  `${fmtMs(r[k].p50)} / ${fmtMs(r[k].p90)} / ${fmtMs(r[k].p99)} / ${fmtMs(r[k].max)}`;
const problems = (r: AsyncRun) => {
  const p = [
    r.failed ? `${r.failed} failed` : '', r.bad ? `${r.bad} not completed` : '', r.refused ? `${r.refused} submits refused` : '',
    r.redelivered ? `${r.redelivered} redelivered` : '',
  ].filter(Boolean).join(', ');
  return p ? `**${p}**${r.firstBad ? ` (${esc(r.firstBad.slice(0, 160))})` : r.firstRefusal ? ` (${esc(r.firstRefusal.slice(0, 160))})` : ''}` : 'none';
};

/** Renders the Markdown report. */
export function renderMarkdown(res: AsyncResults): string {
  const m = res.machine;
  const s = res.settings;
  const live = res.runs.filter((r) => r.mode === 'live');
  const backlog = res.runs.filter((r) => r.mode === 'backlog');
  const one = (rs: AsyncRun[]) => rs.find((r) => r.workers === 1)?.jobsPerSec;
  const scale = (r: AsyncRun, rs: AsyncRun[]) => {
    const base = one(rs);
    return base ? fmtRatio(r.jobsPerSec / base) : '';
  };
  return [
    '# bench/async: async predictions, submit → completed, next to realtime',
    '',
    `${res.date} · ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB · ${m.os} · load average ${m.loadavg.before.join(' ')} before, ` +
      `${m.loadavg.after.join(' ')} after. The client, the server, the workers and Redis share these ${m.cores} cores (and the machine ` +
      'is shared with other work): compare the ratios, measured side by side in this run, not absolute numbers across runs.',
    '',
    `Code: ${res.revision}. Node ${m.runtimes['node']}; ${Object.entries(m.onnxruntime).map(([k, v]) => `${k} ${v}`).join(', ')}; ` +
      `wrk ${m.wrk}; redis-server ${m.redis}. Whole run: ${Math.round(res.seconds)} s.`,
    '',
    `Setup: one \`omniserve serve\` on Node (breast-cancer fixture model, Redis feature store with ${s.users.toLocaleString('en-US')} users and ` +
      `${s.items.toLocaleString('en-US')} items as in bench/realtime, cache off, \`queue: {kind: "redis", inProcessWorker: false}\`) and N ` +
      `\`omniserve worker\` processes (\`workerConcurrency\` ${s.workerConcurrency}: each claims up to that many jobs and runs them through the ` +
      `model's dynamic batcher). The client (the benchmark process) POSTs ${s.jobs.toLocaleString('en-US')} jobs to \`/predict/async\`, ` +
      `${s.inFlight} in flight, random \`{user_id, item_id}\` as post.lua draws them; waits until the Redis stream is empty; then reads every job ` +
      'back with `GET /predict/{id}`. Every timestamp is this machine\'s wall clock (the server stamps `created_at`, the worker `updated_at`, the ' +
      'client its send time), so the latencies are exact to the millisecond.',
    '',
    '## Live: workers run while jobs are submitted (the issue\'s figure)',
    '',
    '**jobs/s** = jobs completed ÷ (first POST sent → last job\'s `updated_at`). **×realtime** = jobs/s ÷ realtime `POST /predict` req/s of the same ' +
      `server (wrk, ${s.threads} threads, ${s.connections} connections, ${s.realtimeSeconds} s; the mean of the realtime runs just before and after). ` +
      '**queue latency** = `updated_at − created_at` (stored by the server → result stored by a worker); **submit → complete** = `updated_at` − when ' +
      'the client sent the POST (adds the submit round trip and the client\'s own queueing). Percentiles are nearest-rank over every job. ' +
      'The N workers are started and get 500 unmeasured warm-up jobs first.',
    '',
    row(['workers', 'jobs/s', '×1 worker', '×realtime', 'realtime req/s', 'queue latency p50 / p90 / p99 / max ms', 'submit → complete p50 / p90 / p99 / max ms',
      'submit rate /s', 'failures']),
    row(['---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---']),
    ...live.map((r) => row([r.workers, `**${fmtRate(r.jobsPerSec)}**`, scale(r, live), r.ratio === undefined ? '' : `**${fmtRatio(r.ratio)}**`,
      r.realtimeReqPerSec === undefined ? '' : fmtRate(r.realtimeReqPerSec), lat(r, 'queueLatencyMs'), lat(r, 'endToEndLatencyMs'),
      fmtRate(r.submitPerSec), problems(r)])),
    '',
    ...(backlog.length ? [
      '## Backlog: all jobs queued first, then N workers drain them',
      '',
      'The same jobs submitted with no worker running, then N workers started: what the workers alone sustain, with no client and no submit ' +
        'handling competing for the cores. **jobs/s** over the middle 80 % of completions (10th → 90th percentile of `updated_at`), so worker ' +
        'start-up and the tail are left out (the workers are cold: no warm-up). **submit rate** is the server\'s `POST /predict/async` rate with nothing else running but Redis.',
      '',
      row(['workers', 'drain jobs/s', '×1 worker', '×realtime', 'submit rate /s (×realtime)', 'workers started in s', 'failures']),
      row(['---:', '---:', '---:', '---:', '---:', '---:', '---']),
      ...backlog.map((r) => row([r.workers, `**${fmtRate(r.jobsPerSec)}**`, scale(r, backlog), r.ratio === undefined ? '' : fmtRatio(r.ratio),
        `${fmtRate(r.submitPerSec)}${r.realtimeReqPerSec ? ` (${fmtRatio(r.submitPerSec / r.realtimeReqPerSec)})` : ''}`, r.workerStartSeconds.toFixed(1), problems(r)])),
      '',
    ] : []),
    '## Realtime runs (same server, in order)',
    '',
    row(['#', 'when', 'req/s', 'p50 ms', 'p99 ms', 'rows/batch', 'problems']),
    row(['---:', '---', '---:', '---:', '---:', '---:', '---']),
    ...res.realtime.map((r, i) => row([i + 1, i === 0 ? 'before the first async run' : `after ${s.workers[i - 1]} worker(s)`,
      fmtRate(r.result.requestsPerSec), fmtMs(r.result.latencyMs.p50), fmtMs(r.result.latencyMs.p99),
      r.stats ? r.stats.meanBatchRows.toFixed(1) : '', esc(r.problems.join('; ')) || 'none'])),
    '',
    ...reproduceSection(res.command),
    `Server: \`${s.server.join(' ')}\`; workers: \`${s.worker.join(' ')}\` (config in .tmp/bench/realtime/). Every figure, every realtime wrk ` +
      'output and the config are in `async.json`.',
    '',
  ].join('\n');
}
