/**
 * The `omniserve` command line, shared by the Node, Bun and Deno entry points (all three
 * provide `node:util`'s parseArgs and node streams). Each host passes its runtime adapter.
 * @module
 */
import { parseArgs } from 'node:util';
import type { Readable, Writable } from 'node:stream';
import { BACKEND_REQUESTS, createEngine, isOmniserveError, messageOf, type RuntimeAdapter } from '../../src/index.ts';
import type { Listen } from '../serve/listener.ts';
import type { SpawnChild } from '../serve/supervisor.ts';
import { BatchUsageError } from '../../src/batch/run.ts';
// Each command's module is imported when that command runs: a command starts without
// loading every other one (the server, Kafka, the benchmark suite: about 0.6 s on Node).

/** Standard streams of the host. */
export interface CliIo {
  readonly stdin: Readable;
  readonly stdout: Writable;
  readonly stderr: Writable;
}

const USAGE = `omniserve: serve ONNX models realtime, async, streaming and batch

Usage: omniserve <command> [options]

Commands:
  predict   --model M [--backend B] [--input rows.jsonl] [--config F] [--version V] [--batch-size N]
            score JSON lines from a file or stdin; one JSON line out per row.
            M is a .onnx path, a URL, or a bundled model ("demo").
  backends  [--backend B] [--probe all|auto]   host and backend report (JSON)
  serve     [--config F] [--port P] [--host H] [--model a.onnx ...] [--backend B] [--workers N]
            realtime HTTP API (predict, Open Inference Protocol v2, health, metrics);
            no config: the bundled demo model with an in-memory feature store.
            --workers N: N serving processes on one port (0: one per core).
  redis-rest [--redis-url U] [--port P] [--host H] [--token T]
            an Upstash-compatible REST gateway over a real Redis (local edge development)
  worker    --config F [--concurrency N] [--metrics-port P [--metrics-host H]]
            async job worker on the config's Redis queue (queue.kind "redis"); runs until
            SIGTERM, finishing the jobs it holds. --metrics-port: GET /metrics and /health.
  stream    --config F                         Kafka events in, predictions out (at-least-once);
            poison events to the dead-letter topic. Runs until SIGTERM.
  batch     --config F --input GLOB --output DIR [--partition-by COL] [--resume]
            [--incremental --watermark-column COL] [--shard i/n] [--workers N]
            [--redis URL [--claim-idle-ms MS] [--max-deliveries N]]
            score Parquet files into partitioned Parquet plus DIR/_manifest.json;
            --shard: this process's share for external schedulers; --redis: coordinate
            the run's units through Redis for "batch --worker" processes
  batch     --worker --redis URL [--workers N]
            claim and score units of coordinated runs (model and settings come from Redis)
  bench     [--scenario core,realtime,async,stream,batch,browser] [--runtime node,bun,deno,workerd]
            [--backend B,...] [--quick] [--repeat N]
            the benchmark suite: each scenario against its same-run baseline; writes
            bench/results/suite.{json,md} and SVG charts (from a clone; see bench/README.md)

Backends (--backend): ${BACKEND_REQUESTS.join(', ')}
Exit codes: 0 ok, 1 error, 2 usage, 3 some rows failed.
`;

const NOT_YET = new Set<string>();

/** Runs the CLI with `argv` (without the executable and script). Returns the exit code. */
export async function runCli(
  argv: readonly string[],
  runtime: () => RuntimeAdapter,
  io: CliIo,
  listen?: Listen,
  spawnChild?: SpawnChild,
): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    io.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === '--version' || command === 'version') {
    io.stdout.write('omniserve 0.1.0\n');
    return 0;
  }
  if (NOT_YET.has(command)) {
    io.stderr.write(`omniserve ${command}: not yet implemented in this version\n`);
    return 2;
  }
  let engine: ReturnType<typeof createEngine> | undefined;
  try {
    switch (command) {
      case 'predict': {
        const { values } = parseArgs({
          args: [...rest],
          options: {
            model: { type: 'string', default: 'demo' },
            backend: { type: 'string' },
            input: { type: 'string' },
            config: { type: 'string' },
            version: { type: 'string' },
            'batch-size': { type: 'string', default: '256' },
          },
        });
        const batchSize = Number(values['batch-size']);
        if (!Number.isInteger(batchSize) || batchSize < 1) throw usage('--batch-size must be a positive integer');
        engine = createEngine(runtime());
        return await (await import('./predict.ts')).predictCommand(engine, {
          model: values.model!, backend: values.backend, input: values.input, config: values.config,
          version: values.version, batchSize,
        }, io);
      }
      case 'serve': {
        if (!listen) throw usage('this host cannot listen for HTTP');
        return await (await import('../serve/serve-command.ts')).serveCommand(rest, runtime, listen, io, spawnChild);
      }
      case 'batch':
        return await (await import('../serve/batch-command.ts')).batchCommand(rest, runtime, io);
      case 'worker':
        return await (await import('../serve/worker-command.ts')).workerCommand(rest, runtime, io, listen);
      case 'stream':
        return await (await import('../serve/stream-command.ts')).streamCommand(rest, runtime, io);
      case 'bench':
        return await (await import('./bench.ts')).benchCommand(rest, io);
      case 'redis-rest':
        return await (await import('../native/redis-rest-cli.ts')).redisRestCommand(rest, io);
      case 'backends': {
        const { values } = parseArgs({
          args: [...rest],
          options: { backend: { type: 'string' }, probe: { type: 'string', default: 'all' } },
        });
        if (values.probe !== 'all' && values.probe !== 'auto') throw usage('--probe must be all or auto');
        engine = createEngine(runtime());
        const report = await (await import('./backends.ts')).backendsReport(engine, { backend: values.backend, probe: values.probe });
        io.stdout.write(JSON.stringify(report, null, 2) + '\n');
        return report.selected === null ? 1 : 0;
      }
      default:
        io.stderr.write(`omniserve: unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    if (e instanceof UsageError || e instanceof BatchUsageError || String((e as { code?: unknown }).code ?? '').startsWith('ERR_PARSE_ARGS')) {
      io.stderr.write(`omniserve ${command}: ${messageOf(e)}\n`);
      return 2;
    }
    io.stderr.write(`omniserve ${command}: ${isOmniserveError(e) ? `${e.code}: ${e.message}` : messageOf(e)}\n`);
    return 1;
  } finally {
    await engine?.close();
  }
}

class UsageError extends Error {}
const usage = (m: string) => new UsageError(m);
