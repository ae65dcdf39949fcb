/**
 * `omniserve serve`: config (a file, `--model` flags, or the embedded demo defaults) →
 * server → listen; SIGTERM flips readiness, drains in-flight work, then exits.
 * @module
 */
import { readFile } from 'node:fs/promises';
import process from 'node:process';
import { parseArgs } from 'node:util';
import type { Writable } from 'node:stream';
import type { RuntimeAdapter } from '../../src/index.ts';
import { applyEnv, parseServerConfig, type ServerConfig } from '../../src/config/schema.ts';
import { Errors, messageOf } from '../../src/errors.ts';
import { BUNDLED_DIR, resolveModelArg } from '../cli/bundled.ts';
import { buildServer, configDir } from './build-server.ts';
import { untilSignal } from './until-signal.ts';
import type { Listen } from './listener.ts';
import { availableParallelism } from 'node:os';
import { isSupervisedChild, supervise, type SpawnChild } from './supervisor.ts';
import { createDemoMount, withDemoModel } from '../browser/host/demo-mount.ts';

/** The embedded defaults: the bundled demo model, an in-memory feature store and cache. */
export function embeddedConfig(): unknown {
  return {
    models: [{ path: resolveModelArg('demo') }],
    featureStore: { kind: 'memory', path: `${BUNDLED_DIR}/breast-cancer.users.jsonl`, keyColumn: 'id', prefix: 'user' },
    cache: { kind: 'memory' },
  };
}

/** Runs the server until a signal stops it. Resolves with the exit code. */
export async function serveCommand(
  argv: readonly string[],
  runtime: () => RuntimeAdapter,
  listen: Listen,
  io: { stdout: Writable; stderr: Writable },
  spawnChild?: SpawnChild,
): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      config: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      model: { type: 'string', multiple: true },
      backend: { type: 'string' },
      workers: { type: 'string' },
      demo: { type: 'boolean' },
    },
  });
  let raw: unknown;
  let baseDir = process.cwd();
  if (values.config) {
    try {
      raw = JSON.parse(await readFile(values.config, 'utf8'));
    } catch (e) {
      throw Errors.INVALID_CONFIG(`${values.config}: ${messageOf(e)}`);
    }
    baseDir = configDir(values.config);
  } else if (values.model?.length) {
    raw = { models: values.model.map((m) => ({ path: resolveModelArg(m) })) };
  } else {
    raw = embeddedConfig();
  }
  let cfg: ServerConfig = applyEnv(parseServerConfig(raw, values.config ?? 'embedded config'), process.env);
  if (values.port !== undefined) cfg = { ...cfg, server: { ...cfg.server, port: Number(values.port) } };
  if (values.host !== undefined) cfg = { ...cfg, server: { ...cfg.server, host: values.host } };
  if (values.backend !== undefined) cfg = { ...cfg, backend: values.backend as ServerConfig['backend'] };
  if (values.workers !== undefined) cfg = { ...cfg, server: { ...cfg.server, workers: Number(values.workers) } };
  // The browser demo runs the digits model locally and compares with this server's answer.
  if (values.demo) cfg = withDemoModel(cfg);
  cfg = parseServerConfig(cfg, 'config after overrides');

  const workers = cfg.server.workers === 0 ? availableParallelism() : cfg.server.workers;
  if (workers > 1 && !isSupervisedChild()) {
    if (!spawnChild) throw Errors.INVALID_CONFIG('server.workers > 1 is not supported on this host');
    return supervise(workers, spawnChild, io);
  }

  const demo = values.demo ? await createDemoMount() : undefined;
  const server = await buildServer(cfg, runtime(), baseDir, demo ? { demo } : {});
  const http = trackRequests(server.app.fetch);
  const listening = await listen(http.fetch, { port: cfg.server.port, host: cfg.server.host, reusePort: isSupervisedChild() });
  const models = server.engine.models.list().map((m) => `${m.name}@${m.default}`);
  const backends = server.engine.models.list().map((m) => server.engine.models.get(m.name).backend.id);
  io.stdout.write(JSON.stringify({
    event: 'listening', url: `http://${cfg.server.host === '0.0.0.0' ? '127.0.0.1' : cfg.server.host}:${listening.port}`,
    port: listening.port, host: server.engine.host.name, pid: process.pid, models, backends: [...new Set(backends)],
  }) + '\n');

  return untilSignal({
    name: 'omniserve serve', stderr: io.stderr, timeoutMs: cfg.server.drainTimeoutMs, stopping: 'draining',
    stop: async () => {
      // Readiness flips first (503 on /v2/health/ready, new predictions 503 with
      // Connection: close), queued work finishes, every request already accepted gets its
      // answer; only when the server has been quiet for a moment does the listener close,
      // so connections still in the accept backlog are answered rather than reset.
      http.draining = true;
      // The in-process job worker finishes the jobs it holds first (it scores through the
      // serving core, which refuses work once drained); unfinished jobs would otherwise go
      // back to the queue and use up one of their deliveries.
      await server.worker?.stop();
      await server.serving.drain();
      await http.quiet(250);
      await listening.close();
      await server.close();
    },
  });
}

/**
 * Counts requests in flight so shutdown can wait for them. A promise chain, not an async
 * function: every request passes here, and an async layer is a promise and a microtask more
 * (with the metrics middleware's, 2-4 µs of server CPU per request on Bun under bench/realtime).
 */
function trackRequests(fetch: (req: Request) => Response | Promise<Response>) {
  let active = 0;
  let last = Date.now();
  // `last` moves when a request ends: one in flight keeps `quiet` waiting anyway.
  const end = (): void => {
    active--;
    last = Date.now();
  };
  const ended = (res: Response): Response => {
    end();
    if (t.draining) {
      try {
        res.headers.set('Connection', 'close');
      } catch {
        // Immutable headers (a passed-through response): the host closes idle sockets anyway.
      }
    }
    return res;
  };
  const failed = (e: unknown): never => {
    end();
    throw e;
  };
  const t = {
    draining: false,
    fetch(req: Request): Response | Promise<Response> {
      active++;
      let res: Response | Promise<Response>;
      try {
        res = fetch(req);
      } catch (e) {
        return failed(e);
      }
      return res instanceof Promise ? res.then(ended, failed) : ended(res);
    },
    /** Resolves once nothing is in flight and nothing arrived for `ms`. */
    async quiet(ms: number): Promise<void> {
      while (active > 0 || Date.now() - last < ms) await new Promise((r) => setTimeout(r, 25));
    },
  };
  return t;
}
