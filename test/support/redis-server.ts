/**
 * Disposable redis-server instances for tests, one per caller, on a free
 * loopback port with a private data directory.
 */
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOOPBACK, freePort } from './free-port.ts';
import { describeExit, spawnProcess, type ManagedProcess } from './process.ts';

/** Options for {@link startRedis}. */
export interface RedisOptions {
  /**
   * Port to listen on. Default: a free one. Pass a previous server's port
   * (with its `dir`) to restart "the same" Redis in durability tests.
   */
  port?: number;
  /**
   * Data directory. Default: a fresh temp dir deleted by `stop()`. A dir
   * passed in is left in place so a restarted server can reload it.
   */
  dir?: string;
  /**
   * Extra redis-server arguments, appended after the defaults so they win
   * for single-valued settings, e.g. `['--appendonly', 'yes']`.
   */
  args?: readonly string[];
  /** How long to wait for the first PONG (default 10 s). */
  startTimeoutMs?: number;
}

/** A running redis-server. */
export interface RedisServer {
  readonly host: string;
  readonly port: number;
  /** `redis://127.0.0.1:PORT`, ready for ioredis. */
  readonly url: string;
  /** Data directory (RDB/AOF files land here). */
  readonly dir: string;
  readonly process: ManagedProcess;
  /** SIGTERM, wait for exit (SIGKILL after 5 s), remove an owned temp dir. */
  stop(): Promise<void>;
}

const MISSING_BINARY =
  'redis-server is not installed or not on PATH: install the Debian package ' +
  '`redis-server` (apt-get install redis-server), or set REDIS_SERVER to its path';

/** Binding a just-freed port can lose a race with another process; retry. */
const PORT_ATTEMPTS = 3;

/**
 * Starts redis-server on loopback with persistence off (`--save ''`,
 * `--appendonly no`) and resolves once it answers PING with +PONG.
 * Throws naming the `redis-server` package when the binary is missing.
 */
export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const ownsDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'omniserve-redis-')));
  await mkdir(dir, { recursive: true });
  try {
    for (let attempt = 1; ; attempt++) {
      const port = options.port ?? (await freePort());
      try {
        return await launch(port, dir, ownsDir, options);
      } catch (err) {
        const retry =
          options.port === undefined &&
          attempt < PORT_ATTEMPTS &&
          err instanceof RedisStartError &&
          /address already in use/i.test(err.message);
        if (!retry) throw err;
      }
    }
  } catch (err) {
    if (ownsDir) await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

class RedisStartError extends Error {}

async function launch(
  port: number,
  dir: string,
  ownsDir: boolean,
  options: RedisOptions,
): Promise<RedisServer> {
  const args = [
    '--port', String(port),
    '--bind', LOOPBACK,
    '--save', '',
    '--appendonly', 'no',
    '--daemonize', 'no',
    '--dir', dir,
    ...(options.args ?? []),
  ];
  let proc: ManagedProcess;
  try {
    proc = await spawnProcess(process.env.REDIS_SERVER ?? 'redis-server', args, {
      name: `redis:${port}`,
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(MISSING_BINARY, { cause: err });
    }
    throw err;
  }

  const timeoutMs = options.startTimeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.hasExited()) {
      const status = await proc.exited;
      throw new RedisStartError(
        `redis-server on port ${port} exited during startup (${describeExit(status)}):\n` +
          proc.outputTail(),
      );
    }
    // -LOADING (while reading an AOF) or a refused connection: keep polling.
    if ((await ping(port).catch(() => '')) === '+PONG') break;
    if (Date.now() > deadline) {
      await proc.stop({ signal: 'SIGKILL' });
      throw new RedisStartError(
        `redis-server on port ${port} did not answer PING within ${timeoutMs} ms:\n` +
          proc.outputTail(),
      );
    }
    await new Promise((r) => setTimeout(r, 25));
  }

  return {
    host: LOOPBACK,
    port,
    url: `redis://${LOOPBACK}:${port}`,
    dir,
    process: proc,
    async stop() {
      await proc.stop({ signal: 'SIGTERM', graceMs: 5_000 });
      if (ownsDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Sends an inline PING and resolves with the first reply line. */
function ping(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ port, host: LOOPBACK });
    let reply = '';
    socket.setTimeout(1_000, () => {
      socket.destroy();
      reject(new Error('PING timed out'));
    });
    socket.once('error', reject);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      const end = reply.indexOf('\r\n');
      if (end !== -1) {
        socket.destroy();
        resolve(reply.slice(0, end));
      }
    });
    socket.once('close', () => reject(new Error('connection closed before a reply')));
  });
}

/** HGETALL calls a Redis has executed, from INFO commandstats (any client with an `info` method: ioredis). */
export async function hgetallCalls(client: { info(section: string): Promise<string> }): Promise<number> {
  const info = await client.info('commandstats');
  return Number(/cmdstat_hgetall:calls=(\d+)/.exec(info)?.[1] ?? 0);
}
