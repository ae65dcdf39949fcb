/**
 * The benchmark's baseline: a no-op consume → produce pipe on the same client and the same
 * runner as `omniserve stream` (runtimes/native/stream-kafka.ts: fetch, produce keyed,
 * commit after acknowledgement, pause on backpressure), with the model step replaced by
 * copying each input message to the output topic unchanged. The stream's figure divided by
 * this one is what the model, the JSON decoding and the output encoding cost.
 *
 *   node --import tsx bench/stream/pipe.ts --config stream.json
 *
 * Prints `{"event":"streaming",...,"partitions":[...]}` once joined; SIGTERM stops it as
 * it stops `omniserve stream`.
 * @module
 */
import { readFileSync } from 'node:fs';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { parseStreamConfig } from '../../src/stream/config.ts';
import type { InboundMessage } from '../../src/stream/events.ts';
import type { ProcessedBatch } from '../../src/stream/processor.ts';
import { startKafkaStream, type BatchProcessor } from '../../runtimes/native/stream-kafka.ts';

const { values } = parseArgs({ options: { config: { type: 'string' } } });
if (!values.config) throw new Error('usage: pipe.ts --config stream.json');
const cfg = parseStreamConfig(JSON.parse(readFileSync(values.config, 'utf8')), values.config).stream;

const copy: BatchProcessor = {
  process(messages: readonly InboundMessage[]): Promise<ProcessedBatch> {
    return Promise.resolve({
      outputs: messages.map((m) => ({ key: m.key, value: m.value ?? new Uint8Array(0) })),
      deadLetters: [], deadLetterCodes: [],
      nextOffset: (BigInt(messages[messages.length - 1]!.offset) + 1n).toString(),
    });
  },
  close: () => Promise.resolve(),
};

const stream = await startKafkaStream(cfg, copy, (l) => process.stderr.write(`${l}\n`));
const partitions = await Promise.race([stream.joined, stream.failed]);
process.stdout.write(`${JSON.stringify({ event: 'streaming', pid: process.pid, mode: 'pipe', partitions })}\n`);
let stopping = false;
const stop = async (code: number) => {
  if (stopping) return;
  stopping = true;
  await stream.stop().catch((e: unknown) => process.stderr.write(`pipe: stop failed: ${(e as Error).message}\n`));
  process.exit(code);
};
process.once('SIGTERM', () => void stop(0));
process.once('SIGINT', () => void stop(0));
stream.failed.catch((e: unknown) => {
  process.stderr.write(`pipe: fatal: ${(e as Error).message}\n`);
  void stop(1);
});
