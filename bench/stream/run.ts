/**
 * bench/stream: `omniserve stream` events/s end to end for the breast-cancer fixture model,
 * with 1 and 2 processes, next to a no-op consume → produce pipe on the same client and
 * runner (bench/stream/pipe.ts) in the same run; then end-to-end latency at a steady rate.
 * Writes bench/results/stream.json and stream.md.
 *
 *   node --import tsx bench/stream/run.ts [--events 100000] [--processes 1,2] [--rounds 2]
 *       [--rate 1000] [--latency-seconds 10] [--partitions 32] [--hosts node,bun] [--quick]
 *
 * One mock Kafka cluster (test/support/kafka-broker.ts: librdkafka's mock brokers, real
 * protocol on loopback, 3 brokers). Throughput: per round, per process count, the pipe and
 * the model each get fresh topics; N runners join the group on the empty input topic and
 * settle, are frozen with SIGSTOP while the client sends `--events` events (1,000 keys,
 * fixture rows), and are let go together with SIGCONT to drain that backlog: no rebalance
 * and no producer inside the measurement. events/s is measured on the outputs' CreateTime
 * (stamped by the runner's producer) over the middle 80 % of outputs, so the ramp-up and
 * the tail are left out. Topics have 32 partitions because the mock keeps only the newest
 * 5 MiB of each partition: 100,000 events of ~820 bytes on 4 partitions would lose most of
 * their backlog before the runners read it. Latency: one runner, events produced at
 * `--rate`/s with their send time inside, read back by a live consumer. `--hosts` runs the
 * runners (model and pipe alike) on Node (default) and/or Bun (the client built for Bun by
 * scripts/kafka-bun/build.sh); the benchmark's own client, broker and reader stay on Node.
 * @module
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { describeMachine, sourceRevision } from '../core/machine.ts';
import { percentile } from '../core/stats.ts';
import { startKafkaBroker, type KafkaBroker } from '../../test/support/kafka-broker.ts';
import { spawnProcess, type ManagedProcess } from '../../test/support/process.ts';
import { ROOT, SERVE_HOSTS } from '../../test/support/serve-process.ts';
import { event, quietKafka, startStream, writeConfig } from '../../test/stream/stream-helpers.ts';
import { renderMarkdown } from './report.ts';
import type { Dist, LatencyRun, StreamResults, ThroughputRun } from './types.ts';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    events: { type: 'string' },
    processes: { type: 'string', default: '1,2' },
    rounds: { type: 'string' },
    rate: { type: 'string', default: '1000' },
    'latency-seconds': { type: 'string' },
    partitions: { type: 'string', default: '32' },
    hosts: { type: 'string', default: 'node' },
    'fetch-wait-ms': { type: 'string', default: 'default,10' },
    out: { type: 'string', default: join(ROOT, 'bench', 'results') },
  },
});
const EVENTS = Number(args.events ?? (args.quick ? 10_000 : 100_000));
const PROCS = args.processes.split(',').map(Number);
const ROUNDS = Number(args.rounds ?? (args.quick ? 1 : 2));
const RATE = Number(args.rate);
const LAT_SECONDS = Number(args['latency-seconds'] ?? (args.quick ? 5 : 10));
const PARTITIONS = Number(args.partitions);
const BROKERS = 3;
/** librdkafka `fetch.wait.max.ms` settings for the latency runs' runner and reader (`default`: librdkafka's 500). */
const FETCH_WAITS = args['fetch-wait-ms'].split(',').map((s) => (s.trim() === 'default' ? undefined : Number(s)));
const BATCH_SIZE = 500;
const LINGER_MS = 20;
const CONCURRENCY = 4;
/** After the last runner joined: time for the group's rebalance to finish. */
const SETTLE_MS = 4000;
for (const [k, v] of Object.entries({ EVENTS, ROUNDS, RATE, LAT_SECONDS, PARTITIONS })) if (!(v > 0) || !Number.isInteger(v)) throw new Error(`${k}: expected a positive integer`);
if (!PROCS.every((n) => n > 0 && Number.isInteger(n))) throw new Error('--processes: expected positive integers, e.g. 1,2');
type Host = 'node' | 'bun';
const HOSTS = args.hosts.split(',').map((h) => h.trim()) as Host[];
if (HOSTS.length === 0 || !HOSTS.every((h) => h === 'node' || h === 'bun')) throw new Error('--hosts: node, bun or node,bun (Deno cannot load the Kafka client: docs/streaming.md)');

const log = (l: string) => process.stderr.write(`${l}\n`);
/** 1,000 keys, so events spread evenly over the partitions (the mock's 5 MiB per partition). */
const keyOf = (i: number) => `k-${i % 1000}`;
type Mode = 'pipe' | 'model';

async function startRunner(mode: Mode, config: string, host: Host): Promise<{ proc: ManagedProcess; partitions: number[] }> {
  if (mode === 'model') {
    // Generous: on a loaded 2-core machine a cold start plus the group join can take a while.
    const { proc, line } = await startStream(config, 180_000, host);
    return { proc, partitions: line['partitions'] as number[] };
  }
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['OMNISERVE_KAFKA_BROKERS'];
  const pipe = join(ROOT, 'bench/stream/pipe.ts');
  const [cmd, argv] = host === 'bun'
    ? [SERVE_HOSTS.find((h) => h.name === 'bun')!.cmd, [pipe, '--config', config]]
    : [process.execPath, ['--import', 'tsx', pipe, '--config', config]];
  const proc = await spawnProcess(cmd, argv, { cwd: ROOT, env, name: `pipe:${host}` });
  try {
    const line = await proc.lines.waitFor((l) => l.includes('"streaming"'), 180_000);
    return { proc, partitions: (JSON.parse(line) as { partitions: number[] }).partitions };
  } catch (e) {
    await proc.stop({ signal: 'SIGKILL' });
    throw new Error(`pipe did not start: ${(e as Error).message}\n${proc.outputTail()}`);
  }
}

const dist = (xs: number[]): Dist => {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s[s.length - 1] ?? NaN, n: s.length };
};

async function main(): Promise<void> {
  const t0 = performance.now();
  const loadBefore = os.loadavg();
  const broker: KafkaBroker = await startKafkaBroker({ brokers: BROKERS });
  const kafka = quietKafka(broker.brokers);
  const producer = kafka.producer({ 'linger.ms': 5, 'batch.num.messages': 10_000 } as never);
  await producer.connect();
  const payloads = Array.from({ length: EVENTS }, (_, i) => ({ key: keyOf(i), value: JSON.stringify(event(i)) }));
  const runs: ThroughputRun[] = [];
  const latency: LatencyRun[] = [];

  const topics = async (name: string) => {
    for (const t of ['in', 'out', 'dlq']) await broker.createTopic(`${name}-${t}`, PARTITIONS);
  };
  /**
   * Reads `topic` from the beginning as messages arrive, keeping each one's CreateTime
   * (light work, the same for the pipe and the model).
   */
  const reader = async (topic: string) => {
    const ts: number[] = [];
    const c = kafka.consumer({ kafkaJS: { groupId: `${topic}-reader`, fromBeginning: true, autoCommit: false } });
    await c.connect();
    await c.subscribe({ topics: [topic] });
    await c.run({ eachBatch: async ({ batch }) => { for (const m of batch.messages) ts.push(Number(m.timestamp)); } });
    return { ts, stop: () => c.disconnect() };
  };

  try {
    // Throughput: pipe and model alternate within each round, so drift in the machine's load hits both.
    for (let round = 1; round <= ROUNDS; round++) {
      for (const host of HOSTS) for (const procs of PROCS) {
        for (const mode of ['pipe', 'model'] as const) {
          const name = `t${round}-${host}-${mode}-${procs}`;
          await topics(name);
          // A long session timeout: the runners are stopped (SIGSTOP) while the backlog goes in.
          const rdkafka = { 'session.timeout.ms': 30_000, 'heartbeat.interval.ms': 1000 };
          const config = writeConfig(broker.bootstrapServers, name, { batchSize: BATCH_SIZE, lingerMs: LINGER_MS, concurrency: CONCURRENCY, rdkafka });
          const out = await reader(`${name}-out`);
          // The runners join the group on the empty topic and settle (no rebalance inside the
          // measurement), are frozen with SIGSTOP while the client sends the events (no
          // producer competing for the cores), and are let go together with SIGCONT.
          const runners = [];
          for (let k = 0; k < procs; k++) runners.push(await startRunner(mode, config, host));
          if (procs > 1) await sleep(SETTLE_MS);
          for (const r of runners) r.proc.child.kill('SIGSTOP');
          const t0p = Date.now();
          await Promise.all(Array.from({ length: Math.ceil(EVENTS / 5000) }, (_, c) =>
            producer.send({ topic: `${name}-in`, messages: payloads.slice(c * 5000, (c + 1) * 5000) })));
          const producedPerSec = Math.round(EVENTS / ((Date.now() - t0p) / 1000));
          const started = Date.now();
          for (const r of runners) r.proc.child.kill('SIGCONT');
          let wallSeconds: number;
          try {
            const deadline = Date.now() + 300_000;
            let nextLog = Date.now() + 10_000;
            while (out.ts.length < EVENTS) {
              if (Date.now() > nextLog) {
                log(`${name}: ${out.ts.length} of ${EVENTS} outputs so far`);
                nextLog += 10_000;
              }
              if (Date.now() > deadline) throw new Error(`${name}: not drained in 300 s\n${runners.map((r) => r.proc.outputTail()).join('\n')}`);
              await sleep(50);
            }
            wallSeconds = (Date.now() - started) / 1000;
          } finally {
            await Promise.all(runners.map((r) => r.proc.stop({ signal: 'SIGTERM', graceMs: 20_000 })));
          }
          await sleep(500); // redeliveries, if any, would show here
          await out.stop();
          const outs = out.ts;
          const ts = [...outs].sort((a, b) => a - b);
          const t10 = percentile(ts, 10);
          const t90 = percentile(ts, 90);
          const r: ThroughputRun = {
            host, mode, processes: procs, round, events: EVENTS, producedPerSec,
            eventsPerSec: Math.round((0.8 * ts.length) / Math.max(0.001, (t90 - t10) / 1000)),
            eventsPerSecAll: Math.round(ts.length / Math.max(0.001, (ts[ts.length - 1]! - ts[0]!) / 1000)),
            wallSeconds: Math.round(wallSeconds * 10) / 10, partitions: runners.map((x) => x.partitions), outputs: outs.length,
          };
          runs.push(r);
          log(`${name}: ${r.eventsPerSec} events/s (middle 80%), ${r.eventsPerSecAll} over all outputs, produced at ${producedPerSec}/s, wall ${r.wallSeconds} s, partitions ${JSON.stringify(r.partitions)}, ${r.outputs} outputs`);
        }
      }
    }

    // Latency at a steady rate, one runner.
    for (const host of HOSTS) for (const FETCH_WAIT of FETCH_WAITS) for (const mode of ['pipe', 'model'] as const) {
      const name = `lat-${host}-${mode}-${FETCH_WAIT ?? 'default'}`;
      await topics(name);
      const rdkafka = { 'session.timeout.ms': 6000, 'heartbeat.interval.ms': 500, ...(FETCH_WAIT !== undefined ? { 'fetch.wait.max.ms': FETCH_WAIT } : {}) };
      const config = writeConfig(broker.bootstrapServers, name, { batchSize: BATCH_SIZE, lingerMs: LINGER_MS, concurrency: CONCURRENCY, rdkafka });
      const runner = await startRunner(mode, config, host);
      const arrivals = new Map<string, { e2e: number; toOutput: number }>();
      const reader = kafka.consumer({ kafkaJS: { groupId: `${name}-reader`, fromBeginning: true, autoCommit: false, ...(FETCH_WAIT !== undefined ? { maxWaitTimeInMs: FETCH_WAIT } : {}) } });
      await reader.connect();
      await reader.subscribe({ topics: [`${name}-out`] });
      await reader.run({
        eachBatch: async ({ batch }) => {
          const now = Date.now();
          for (const m of batch.messages) {
            const v = JSON.parse(m.value!.toString()) as { event_id: string; timestamp: string };
            const sent = Date.parse(v.timestamp);
            arrivals.set(v.event_id, { e2e: now - sent, toOutput: Number(m.timestamp) - sent });
          }
        },
      });
      await sleep(3000); // the reader joins its group
      const warmup = Math.round(RATE * 2);
      const total = warmup + RATE * LAT_SECONDS;
      const perTick = Math.max(1, Math.round(RATE / 100));
      let sent = 0;
      const tStart = performance.now();
      while (sent < total) {
        const due = Math.min(total, Math.floor(((performance.now() - tStart) / 1000) * RATE));
        if (due > sent) {
          const batch = [];
          for (; sent < due && batch.length < perTick * 5; sent++) {
            batch.push({ key: keyOf(sent), value: JSON.stringify({ ...event(sent), timestamp: new Date().toISOString() }) });
          }
          producer.send({ topic: `${name}-in`, messages: batch }).catch((e: unknown) => log(`send failed: ${(e as Error).message}`));
        }
        await sleep(10);
      }
      const deadline = Date.now() + 60_000;
      while (arrivals.size < total && Date.now() < deadline) await sleep(100);
      await runner.proc.stop({ signal: 'SIGTERM', graceMs: 20_000 });
      await reader.disconnect();
      const measured = [...arrivals].filter(([id]) => Number(id.slice(2)) >= warmup).map(([, v]) => v);
      const r: LatencyRun = {
        host, mode, processes: 1, rate: RATE, fetchWaitMs: FETCH_WAIT ?? null, seconds: LAT_SECONDS, sent: total - warmup, received: measured.length,
        endToEndMs: dist(measured.map((m) => m.e2e)), toOutputMs: dist(measured.map((m) => m.toOutput)),
      };
      latency.push(r);
      log(`${name}: ${RATE}/s for ${LAT_SECONDS} s: e2e p50 ${r.endToEndMs.p50} p99 ${r.endToEndMs.p99} max ${r.endToEndMs.max} ms; received ${r.received}/${r.sent}`);
    }
  } finally {
    await producer.disconnect().catch(() => {});
    await broker.stop();
  }

  const res: StreamResults = {
    benchmark: 'stream', date: new Date().toISOString(), revision: sourceRevision(ROOT),
    command: `node --import tsx bench/stream/run.ts ${process.argv.slice(2).join(' ')}`.trim(),
    seconds: (performance.now() - t0) / 1000, machine: describeMachine(ROOT, loadBefore),
    settings: {
      events: EVENTS, partitions: PARTITIONS, brokers: BROKERS, batchSize: BATCH_SIZE, lingerMs: LINGER_MS, concurrency: CONCURRENCY,
      rounds: ROUNDS, client: `@confluentinc/kafka-javascript ${(await import('@confluentinc/kafka-javascript/package.json', { with: { type: 'json' } })).default.version}`,
    },
    runs, latency,
  };
  mkdirSync(args.out, { recursive: true });
  writeFileSync(join(args.out, 'stream.json'), `${JSON.stringify(res, null, 2)}\n`);
  writeFileSync(join(args.out, 'stream.md'), renderMarkdown(res));
  log(`wrote ${join(args.out, 'stream.md')} in ${Math.round(res.seconds)} s`);
}

await main();
