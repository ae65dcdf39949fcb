/**
 * `rebalance: "cooperative"` (cooperative-sticky) against the default eager protocol, on
 * the mock Kafka cluster: a second `omniserve stream` (Node, or Bun) joins a running one
 * on Node. Eager: the first
 * gives up all six partitions and gets a share back. Cooperative: it gives up only the
 * partitions that move to the newcomer and keeps the rest. Either way, after the first
 * leaves, every event has an output.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startKafkaBroker, type KafkaBroker } from '../support/kafka-broker.ts';
import { collect, event, keyOf, parse, produce, quietKafka, startStream, until, writeConfig } from './stream-helpers.ts';

const PARTITIONS = 6;
const ALL = Array.from({ length: PARTITIONS }, (_, i) => i);

/** The rebalance lines a stream process logs, as `[kind, partitions]`, in order. */
function rebalances(stderr: string): ['assign' | 'revoke', number[]][] {
  return [...stderr.matchAll(/rebalance \((?:eager|cooperative)\): (assign|revoke) (\[[\d,]*\])/g)]
    .map((m) => [m[1] as 'assign' | 'revoke', JSON.parse(m[2]!) as number[]]);
}

describe('omniserve stream: a member joins, eager and cooperative rebalancing', () => {
  let broker: KafkaBroker;
  let kafka: ReturnType<typeof quietKafka>;
  before(async () => {
    broker = await startKafkaBroker();
    kafka = quietKafka(broker.brokers);
  });
  after(async () => {
    await broker?.stop();
  });

  // The newcomer runs on Node, and (cooperative) on Bun with its own build of the client.
  for (const [mode, host] of [['cooperative', 'node'], ['cooperative', 'bun'], ['eager', 'node']] as const) {
    test(`${mode}: the first member ${mode === 'cooperative' ? 'keeps the partitions that stay its own' : 'gives up every partition'} when a ${host} member joins; every event is scored`, { timeout: 120_000 }, async () => {
      const name = `rb-${mode}-${host}`;
      for (const t of ['in', 'out', 'dlq']) await broker.createTopic(`${name}-${t}`, PARTITIONS);
      const n = 20_000;
      const reader = await collect(kafka, [`${name}-out`], `${name}-reader`);
      await produce(kafka, `${name}-in`, Array.from({ length: n }, (_, i) => ({ key: keyOf(i), value: JSON.stringify(event(i)) })));
      const config = writeConfig(broker.bootstrapServers, name, { rebalance: mode, batchSize: 50, lingerMs: 30 });
      const a = await startStream(config);
      let aLog = '';
      a.proc.child.stderr!.on('data', (d: Buffer) => { aLog += d.toString(); });
      let bLog = '';
      const outputs = () => reader.got[`${name}-out`]!;
      let b: Awaited<ReturnType<typeof startStream>> | undefined;
      try {
        assert.deepEqual(a.line['partitions'], ALL);
        await until(() => outputs().length >= 1_000, 30_000, () => a.proc.outputTail());
        b = await startStream(config, 60_000, host);
        b.proc.child.stderr!.on('data', (d: Buffer) => { bLog += d.toString(); });
        const bParts = b.line['partitions'] as number[];
        assert.ok(bParts.length > 0 && bParts.length < PARTITIONS, `the newcomer got ${JSON.stringify(bParts)}`);
        await until(() => rebalances(aLog).some(([k]) => k === 'revoke'), 30_000, () => `no revoke logged by the first member:\n${aLog.slice(-3000)}`);
        const firstRevoke = rebalances(aLog).find(([k]) => k === 'revoke')![1];
        if (mode === 'cooperative') {
          // Only what moved to the newcomer, and nothing it kept was revoked.
          assert.deepEqual(firstRevoke, [...bParts].sort((x, y) => x - y), `revoked ${JSON.stringify(firstRevoke)}; the newcomer has ${JSON.stringify(bParts)}\n${aLog.slice(-3000)}`);
          assert.ok(firstRevoke.length < PARTITIONS);
        } else {
          assert.deepEqual(firstRevoke, ALL, `eager: the first member gives up every partition\n${aLog.slice(-3000)}`);
        }
        // The first member leaves; the newcomer takes the rest and finishes.
        assert.deepEqual(await a.proc.stop({ signal: 'SIGTERM', graceMs: 15_000 }), { code: 0, signal: null }, a.proc.outputTail());
        const held = () => [...new Set([...bParts, ...rebalances(bLog).filter(([k]) => k === 'assign').flatMap(([, p]) => p)])].sort((x, y) => x - y);
        await until(() => held().length === PARTITIONS, 30_000, () => `the newcomer holds ${JSON.stringify(held())}\n${bLog.slice(-3000)}`);
        const ids = () => new Set(outputs().map((g) => parse(g).event_id)).size;
        await until(() => ids() >= n, 60_000, () => `${ids()} of ${n} event ids\n${b!.proc.outputTail()}`);
        assert.deepEqual(await b.proc.stop({ signal: 'SIGTERM', graceMs: 15_000 }), { code: 0, signal: null }, b.proc.outputTail());
        console.log(`# stream rebalance (${mode}, ${host} joining): first member revoked ${JSON.stringify(firstRevoke)} when the second joined with ${JSON.stringify(bParts)}; ${outputs().length} outputs for ${n} events`);
      } finally {
        await a.proc.stop({ signal: 'SIGKILL' });
        await b?.proc.stop({ signal: 'SIGKILL' });
        await reader.stop();
      }
    });
  }
});
