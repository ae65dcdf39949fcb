/**
 * bench/results/stream.md from the collected results.
 * @module
 */
import { fmtMs, fmtRate, fmtRatio, mdRow } from '../core/format.ts';
import type { Dist, StreamResults, ThroughputRun } from './types.ts';

const d = (x: Dist) => `${fmtMs(x.p50)} / ${fmtMs(x.p90)} / ${fmtMs(x.p99)} / ${fmtMs(x.max)}`;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const hostOf = (r: { host?: string }) => r.host ?? 'node';
const HOST_NAMES: Record<string, string> = { node: 'Node', bun: 'Bun' };

/** Per host and process count: the model's and the pipe's median over rounds, and their ratio. */
export function summarize(runs: readonly ThroughputRun[]): { host: string; processes: number; model: number; pipe: number; ratio: number; ratios: number[] }[] {
  const hosts = [...new Set(runs.map(hostOf))];
  const procs = [...new Set(runs.map((r) => r.processes))].sort((a, b) => a - b);
  return hosts.flatMap((host) => procs.map((p) => {
    const of = (mode: string) => runs.filter((r) => hostOf(r) === host && r.processes === p && r.mode === mode);
    const rounds = [...new Set(of('model').map((r) => r.round))];
    const ratios = rounds.map((k) => of('model').find((r) => r.round === k)!.eventsPerSec / (of('pipe').find((r) => r.round === k)?.eventsPerSec ?? NaN));
    const model = median(of('model').map((r) => r.eventsPerSec));
    const pipe = median(of('pipe').map((r) => r.eventsPerSec));
    return { host, processes: p, model, pipe, ratio: median(ratios), ratios };
  }));
}

/** Renders the Markdown report. */
export function renderMarkdown(res: StreamResults): string {
  const m = res.machine;
  const s = res.settings;
  const sum = summarize(res.runs);
  const hosts = [...new Set([...res.runs, ...res.latency].map(hostOf))];
  const byHost = hosts.length > 1 || hosts[0] !== 'node';
  const h = (r: { host?: string }) => (byHost ? [HOST_NAMES[hostOf(r)] ?? hostOf(r)] : []);
  const hh = byHost ? ['host'] : [];
  const hd = byHost ? ['---'] : [];
  return [
    '# bench/stream: Kafka → model → Kafka, next to a no-op pipe',
    '',
    `${res.date} · ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB · ${m.os} · load average ${m.loadavg.before.join(' ')} before, ` +
      `${m.loadavg.after.join(' ')} after. The mock Kafka cluster, the runners and the benchmark client share these ${m.cores} cores ` +
      '(and the machine is shared with other work): compare the ratios, measured side by side in this run, not absolute numbers across runs.',
    '',
    `Code: ${res.revision}. Node ${m.runtimes['node']}${hosts.includes('bun') ? `, Bun ${m.runtimes['bun']}` : ''}; ${Object.entries(m.onnxruntime).map(([k, v]) => `${k} ${v}`).join(', ')}; ${s.client} ` +
      `(librdkafka). Whole run: ${Math.round(res.seconds)} s.`,
    '',
    `Reproduce: \`${res.command}\``,
    '',
    `Setup: librdkafka's mock cluster (test/support/kafka-broker.ts, ${s.brokers} brokers, real Kafka protocol on loopback), topics of ` +
      `${s.partitions} partitions. **model** = \`omniserve stream\` with the breast-cancer fixture model (CPU, 1 thread), JSON events of ` +
      `30 features, 1,000 keys, outputs \`{event_id, prediction, probability, …}\`. **pipe** = bench/stream/pipe.ts: the same client and ` +
      'the same runner (fetch, produce keyed, commit after acknowledgement, backpressure) copying each input message to the output ' +
      `topic unchanged, no decoding, no model. Both: batchSize ${s.batchSize}, lingerMs ${s.lingerMs}, concurrency ${s.concurrency}, ` +
      'idempotent producer with acks=all, at-least-once commits.' +
      (hosts.includes('bun') ? ' On Bun the runners use the client built for Bun (scripts/kafka-bun/build.sh); the benchmark\'s client, reader and broker are the same for both hosts.' : ''),
    '',
    '## Throughput: backlog drain',
    '',
    `N runner processes join the group on fresh, empty topics (one after the other, then 4 s for the rebalance) and are frozen ` +
      `(SIGSTOP); the client sends ${fmtRate(s.events)} events (1,000 keys; **produced/s**: all sends acknowledged); the runners are let go ` +
      'together (SIGCONT) and drain the backlog, with no rebalance inside the measurement and no producer competing for the cores. ' +
      '**events/s** = outputs in the ' +
      'middle 80 % ÷ the time between the 10th and 90th percentile of their CreateTime (stamped by the runner\'s producer), so ' +
      `the ramp-up and the tail are left out. Pipe and model alternate within each of ${s.rounds} round(s); **×pipe** is ` +
      'the median over rounds of model ÷ pipe of the same round (goal ≥ 0.6).',
    '',
    mdRow([...hh, 'processes', 'model events/s', 'pipe events/s', '**×pipe**', 'per round']),
    mdRow([...hd, '---:', '---:', '---:', '---:', '---']),
    ...sum.map((x) => mdRow([...h(x), x.processes, fmtRate(x.model), fmtRate(x.pipe), `**${fmtRatio(x.ratio)}**`, x.ratios.map(fmtRatio).join(', ')])),
    '',
    'Every run:',
    '',
    mdRow(['round', ...hh, 'mode', 'processes', 'events/s (middle 80 %)', 'events/s (all outputs)', 'produced/s', 'wall s (SIGCONT → last read)', 'outputs', 'partitions at join']),
    mdRow(['---:', ...hd, '---', '---:', '---:', '---:', '---:', '---:', '---:', '---']),
    ...res.runs.map((r) => mdRow([r.round, ...h(r), r.mode, r.processes, fmtRate(r.eventsPerSec), fmtRate(r.eventsPerSecAll), fmtRate(r.producedPerSec), r.wallSeconds, r.outputs, JSON.stringify(r.partitions)])),
    '',
    '## Latency at a steady rate',
    '',
    'One runner; the client produces events at a fixed rate, each carrying its send time, and a consumer reads the outputs back ' +
      'as they come. **end to end** = client produce call → output read by the consumer; **to output** = client produce call → the ' +
      'runner\'s produce call for the output (its CreateTime). The first 2 s are warm-up, left out. Milliseconds, p50 / p90 / p99 / max. ' +
      '**fetch.wait.max.ms** is librdkafka\'s consumer setting for the runner and the reader (`rdkafka` in the stream config): with ' +
      'librdkafka\'s default of 500 ms a quiet partition\'s fetch waits that long on this (mock) broker; latency-sensitive ' +
      'deployments set it lower.',
    '',
    mdRow([...hh, 'mode', 'fetch.wait.max.ms', 'rate /s', 'seconds', 'received / sent', 'end to end ms', 'to output ms']),
    mdRow([...hd, '---', '---:', '---:', '---:', '---:', '---:', '---:']),
    ...res.latency.map((r) => mdRow([...h(r), r.mode, r.fetchWaitMs ?? '500 (default)', fmtRate(r.rate), r.seconds, `${r.received} / ${r.sent}`, d(r.endToEndMs), d(r.toOutputMs)])),
    '',
  ].join('\n');
}
