/**
 * `omniserve worker --config F`: async job workers on any machine, against the same Redis
 * queue as the servers. Builds the models and feature store as `serve` does, prints a
 * `{"event":"worker"}` line, and runs until SIGTERM/SIGINT: then it stops claiming,
 * finishes the jobs it holds, and exits 0. A worker killed outright loses nothing: its jobs
 * go to another worker after `queue.claimIdleMs`.
 *
 * `--metrics-port P [--metrics-host H]` (default host 127.0.0.1; port 0 picks one, printed
 * as `metrics_url`): `GET /metrics` (jobs completed, failed, retried, webhook deliveries,
 * inference batch sizes and latency, feature-store latency of this worker) and `GET /health`,
 * on the host's own listener. Nothing else is served: a worker takes no predictions.
 * @module
 */
import { readFile } from 'node:fs/promises';
import process from 'node:process';
import { parseArgs } from 'node:util';
import type { Writable } from 'node:stream';
import type { RuntimeAdapter } from '../../src/index.ts';
import { applyEnv, parseServerConfig, type ServerConfig } from '../../src/config/schema.ts';
import { Errors, messageOf } from '../../src/errors.ts';
import { untilSignal } from './until-signal.ts';
import { buildServer, configDir } from './build-server.ts';
import type { Listen, Listening } from './listener.ts';

/** Runs workers until a signal stops them. Resolves with the exit code. */
export async function workerCommand(
  argv: readonly string[],
  runtime: () => RuntimeAdapter,
  io: { stdout: Writable; stderr: Writable },
  listen?: Listen,
): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      config: { type: 'string' }, concurrency: { type: 'string' },
      'metrics-port': { type: 'string' }, 'metrics-host': { type: 'string', default: '127.0.0.1' },
    },
  });
  const metricsPort = values['metrics-port'] === undefined ? undefined : Number(values['metrics-port']);
  if (metricsPort !== undefined && !(Number.isInteger(metricsPort) && metricsPort >= 0 && metricsPort <= 65_535)) {
    throw Errors.INVALID_CONFIG(`--metrics-port: expected a port number 0-65535, got ${JSON.stringify(values['metrics-port'])}`);
  }
  if (metricsPort !== undefined && !listen) throw Errors.INVALID_CONFIG('--metrics-port: this host cannot listen for HTTP');
  if (!values.config) throw Errors.INVALID_CONFIG('omniserve worker needs --config F (with a redis queue)');
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(values.config, 'utf8'));
  } catch (e) {
    throw Errors.INVALID_CONFIG(`${values.config}: ${messageOf(e)}`);
  }
  let cfg: ServerConfig = applyEnv(parseServerConfig(raw, values.config), process.env);
  if (cfg.queue.kind !== 'redis') {
    throw Errors.INVALID_CONFIG('queue.kind: omniserve worker needs a shared queue ("redis"); the memory queue lives inside one server', { path: 'queue.kind' });
  }
  // The same file may tell servers not to run a worker; this process is one.
  const concurrency = values.concurrency !== undefined ? Number(values.concurrency) : cfg.queue.workerConcurrency;
  cfg = parseServerConfig({ ...cfg, queue: { ...cfg.queue, inProcessWorker: true, workerConcurrency: concurrency } }, 'config after overrides');

  const built = await buildServer(cfg, runtime(), configDir(values.config));
  const worker = built.worker!;
  let metrics: Listening | undefined;
  if (metricsPort !== undefined) {
    try {
      metrics = await listen!((req) => {
        const path = new URL(req.url).pathname;
        if ((req.method === 'GET' || req.method === 'HEAD') && (path === '/metrics' || path === '/health')) return built.app.fetch(req);
        return new Response(JSON.stringify({ error: 'a worker serves GET /metrics and GET /health only', code: 'NOT_FOUND' }),
          { status: 404, headers: { 'content-type': 'application/json' } });
      }, { port: metricsPort, host: values['metrics-host']! });
    } catch (e) {
      await built.close();
      throw Errors.INVALID_CONFIG(`--metrics-port ${metricsPort}: cannot listen on ${values['metrics-host']}: ${messageOf(e)}`);
    }
  }
  const shownHost = values['metrics-host'] === '0.0.0.0' ? '127.0.0.1' : values['metrics-host'];
  io.stdout.write(JSON.stringify({
    event: 'worker', pid: process.pid, queue: 'redis',
    models: built.engine.models.list().map((m) => `${m.name}@${m.default}`),
    ...(metrics ? { metrics_url: `http://${shownHost}:${metrics.port}/metrics` } : {}),
  }) + '\n');

  return untilSignal({
    name: 'omniserve worker', stderr: io.stderr, timeoutMs: cfg.server.drainTimeoutMs,
    stopping: 'finishing jobs in flight', timeoutNote: 'unfinished jobs will be redelivered',
    stop: async () => {
      await built.close();
      await metrics?.close();
      return `${worker.worker.counts.completed} completed, ${worker.worker.counts.failed} failed`;
    },
  });
}
