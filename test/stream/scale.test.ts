/**
 * `omniserve stream` at scale on the mock Kafka cluster: 100,000 events through two
 * processes, the second joining midway and the first leaving (SIGTERM) later, so the group
 * rebalances both ways; the first runs on Node, the second on Bun (its own build of the
 * client), so a mixed group shares the partitions; a small `maxInFlight` under a backlog ~10× that size, so
 * backpressure holds fetching again and again. Checked: every event has an output, per-key
 * order holds, in-flight events and RSS stay bounded, the metrics endpoint passes promtool.
 *
 * The events are produced paced, keeping the backlog under BACKLOG: the mock broker keeps
 * only the newest 5 MiB of each partition (see test/support/kafka-broker.ts), so 100,000
 * preloaded events would lose their oldest part before anything read them.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startKafkaBroker, type KafkaBroker } from '../support/kafka-broker.ts';
import type { ManagedProcess } from '../support/process.ts';
import { event, keyOf, quietKafka, startStream, until, writeConfig } from './stream-helpers.ts';

const N = 100_000;
const PARTITIONS = 12;
const BACKLOG = 20_000;
const MAX_IN_FLIGHT = 2_000;
const BATCH = 500;
const CONCURRENCY = 4;

/** Reads `topic` from the beginning into [key, event seq] pairs, in each partition's order. */
async function outputsOf(kafka: ReturnType<typeof quietKafka>, topic: string) {
  const got: { key: string; seq: number }[] = [];
  const unique = new Set<number>();
  const c = kafka.consumer({ kafkaJS: { groupId: `${topic}-reader`, fromBeginning: true, autoCommit: false } });
  await c.connect();
  await c.subscribe({ topics: [topic] });
  await c.run({
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages) {
        const v = m.value!.toString();
        // `"event_id":"e-123"` is the first field: no need to parse 100k JSON documents.
        const seq = Number(/"event_id":"e-(\d+)"/.exec(v)![1]);
        got.push({ key: m.key!.toString(), seq });
        unique.add(seq);
      }
    },
  });
  return { got, unique, stop: () => c.disconnect() };
}

/** `name value` of an unlabelled sample in a Prometheus scrape. */
const sample = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);

function rssMiB(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
  } catch {
    return 0; // exited meanwhile
  }
}

describe('omniserve stream at scale', () => {
  let broker: KafkaBroker;
  let kafka: ReturnType<typeof quietKafka>;
  before(async () => {
    broker = await startKafkaBroker({ brokers: 3 });
    kafka = quietKafka(broker.brokers);
  });
  after(async () => {
    await broker?.stop();
  });

  test('100,000 events, two processes (Node, then Bun) joining and leaving, bounded in-flight work, metrics pass promtool', { timeout: 150_000 }, async () => {
    for (const t of ['in', 'out', 'dlq']) await broker.createTopic(`sc-${t}`, PARTITIONS);
    const producer = kafka.producer({ 'linger.ms': 5 } as never);
    await producer.connect();
    let produced = 0;
    const produceUpTo = async (limit: number) => {
      for (; produced < limit; produced += 5_000) {
        await producer.send({ topic: 'sc-in', messages: Array.from({ length: Math.min(5_000, N - produced) }, (_, j) => ({ key: keyOf(produced + j), value: JSON.stringify(event(produced + j)) })) });
      }
    };
    await produceUpTo(BACKLOG);

    const config = writeConfig(broker.bootstrapServers, 'sc', {
      batchSize: BATCH, concurrency: CONCURRENCY, maxInFlight: MAX_IN_FLIGHT, metrics: { port: 0, host: '127.0.0.1' },
      // librdkafka's own prefetch queue is the other buffer a backlog fills: keep it small too.
      rdkafka: { 'session.timeout.ms': 6000, 'heartbeat.interval.ms': 500, 'queued.max.messages.kbytes': 4096 },
    });
    const out = await outputsOf(kafka, 'sc-out');
    const procs: { proc: ManagedProcess; url: string }[] = [];
    let maxInFlight = 0;
    let maxRss = 0;
    let pausedSeen = false;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        for (const p of procs) {
          if (p.proc.hasExited()) continue;
          maxRss = Math.max(maxRss, rssMiB(p.proc.pid));
          const text = await fetch(p.url).then((r) => r.text()).catch(() => '');
          if (!text) continue;
          maxInFlight = Math.max(maxInFlight, sample(text, 'omniserve_stream_in_flight_events') || 0);
          if (sample(text, 'omniserve_stream_paused') === 1) pausedSeen = true;
        }
        await sleep(100);
      }
    })();
    const start = async (host: 'node' | 'bun') => {
      const s = await startStream(config, 60_000, host);
      const p = { proc: s.proc, url: s.line['metricsUrl'] as string, partitions: s.line['partitions'] as number[] };
      assert.match(p.url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      procs.push(p);
      return p;
    };
    const ids = () => out.unique.size;
    const dups: string[] = [];
    const noteDups = (when: string) => dups.push(`${out.got.length - out.unique.size} ${when}`);
    let feeding = true;
    const feeder = (async () => {
      while (feeding && produced < N) {
        if (produced - out.unique.size < BACKLOG - 5_000) await produceUpTo(Math.min(N, produced + 5_000));
        else await sleep(50);
      }
    })();
    const t0 = Date.now();
    try {
      const a = await start('node');
      assert.deepEqual(a.partitions, Array.from({ length: PARTITIONS }, (_, i) => i));
      await until(() => out.unique.size >= 15_000, 60_000, () => `${out.got.length} outputs\n${a.proc.outputTail()}`);
      // A second member joins: the group rebalances and it gets a share.
      const b = await start('bun');
      assert.ok(b.partitions.length > 0 && b.partitions.length < PARTITIONS, `second member got ${JSON.stringify(b.partitions)}`);
      noteDups('after the join');
      await until(() => out.unique.size >= 60_000, 60_000, () => `${out.got.length} outputs\n${a.proc.outputTail()}\n${b.proc.outputTail()}`);

      // The metrics endpoint mid-run: promtool-clean, and the counters moving.
      const scrape = await fetch(a.url);
      assert.equal(scrape.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
      const text = await scrape.text();
      assert.ok(existsSync('/usr/bin/promtool'), 'promtool is missing: install the Debian package "prometheus"');
      const pt = spawnSync('/usr/bin/promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      assert.equal(pt.status, 0, `promtool: ${pt.stdout}${pt.stderr}\n${text}`);
      for (const name of [
        'omniserve_stream_events_consumed_total{topic="sc-in"}', 'omniserve_stream_events_produced_total{topic="sc-out",kind="output"}',
        'omniserve_stream_commits_total', 'omniserve_stream_fetch_batch_size_events_count', 'omniserve_stream_inference_batch_size_rows_count',
        'omniserve_stream_inference_duration_seconds_count', 'omniserve_stream_processing_duration_seconds_count',
        'omniserve_stream_backpressure_pauses_total', 'omniserve_stream_rebalances_total{kind="revoke"}',
      ]) {
        const v = Number(text.split('\n').find((l) => l.startsWith(`${name} `))?.split(' ')[1]);
        assert.ok(v > 0, `${name} should be > 0 in:\n${text}`);
      }
      assert.match(text, /^omniserve_stream_consumer_lag_events\{topic="sc-in",partition="\d+"\} \d+$/m, text);
      assert.equal((await fetch(a.url.replace('/metrics', '/health'))).status, 200);

      // The first member leaves: the second takes over every partition.
      noteDups('before the leave');
      assert.deepEqual(await a.proc.stop({ signal: 'SIGTERM', graceMs: 30_000 }), { code: 0, signal: null }, a.proc.outputTail());
      await until(() => ids() >= N, 90_000, () => `${ids()} of ${N} event ids\n${b.proc.outputTail()}`);
      assert.deepEqual(await b.proc.stop({ signal: 'SIGTERM', graceMs: 30_000 }), { code: 0, signal: null }, b.proc.outputTail());
    } finally {
      feeding = false;
      await feeder;
      await producer.disconnect();
      sampling = false;
      await sampler;
      for (const p of procs) await p.proc.stop({ signal: 'SIGKILL' });
      await out.stop();
    }
    const seconds = (Date.now() - t0) / 1000;

    // Every event has an output; per key, outputs come in event order (a redelivered
    // stretch after a rebalance may repeat events, but never reorders the first outputs).
    const seen = new Set<number>();
    const lastFirst = new Map<string, number>();
    for (const g of out.got) {
      assert.equal(g.key, keyOf(g.seq));
      if (seen.has(g.seq)) continue;
      seen.add(g.seq);
      const prev = lastFirst.get(g.key) ?? -1;
      assert.ok(g.seq > prev, `key ${g.key}: e-${g.seq} after e-${prev}`);
      lastFirst.set(g.key, g.seq);
    }
    assert.equal(seen.size, N);
    // Backpressure: fetching paused, and in flight never past the bound plus the batches
    // the concurrent partition workers had in hand when it bit.
    assert.ok(pausedSeen, 'the partitions were never paused');
    assert.ok(maxInFlight > 0 && maxInFlight <= MAX_IN_FLIGHT + BATCH * CONCURRENCY, `in flight peaked at ${maxInFlight}`);
    assert.ok(maxRss < 400, `RSS peaked at ${Math.round(maxRss)} MiB`);
    console.log(`# stream scale: ${N} events, ${out.got.length - N} redelivered (${dups.join(', ')}), ${seconds.toFixed(1)} s; in flight peaked at ${maxInFlight} (bound ${MAX_IN_FLIGHT}); RSS peaked at ${Math.round(maxRss)} MiB`);
  });
});
