/**
 * Child-process helpers for tests: spawn with line-oriented stdout, keep a
 * tail of output for error messages, stop gracefully then forcefully, and
 * never leak a child past the test process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

/** How a child ended: exit code, or the signal that killed it. */
export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Options for {@link spawnProcess}. */
export interface SpawnProcessOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Pipe stdin so {@link ManagedProcess.writeLine} works (default false). */
  stdin?: boolean;
  /**
   * Start the child in its own process group so `stop()` also reaches its
   * descendants (worker pools, shells). Default false.
   */
  group?: boolean;
  /**
   * Copy the child's stderr to ours. Defaults to on when
   * OMNISERVE_TEST_VERBOSE=1; otherwise output is only kept as a tail that
   * startup errors quote.
   */
  echoStderr?: boolean;
  /** Label used in error messages and echoed output (default: command). */
  name?: string;
}

/** Options for {@link ManagedProcess.stop}. */
export interface StopOptions {
  /** First signal to send (default SIGTERM). */
  signal?: NodeJS.Signals;
  /** How long to wait before escalating to SIGKILL (default 5000 ms). */
  graceMs?: number;
}

/** A spawned child with line-based stdout and guaranteed cleanup. */
export interface ManagedProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly name: string;
  /** Resolves once the child has exited (never rejects). */
  readonly exited: Promise<ExitStatus>;
  /** Stdout split into lines, in order. */
  readonly lines: LineReader;
  hasExited(): boolean;
  /** The last lines of stdout and stderr, for error messages. */
  outputTail(): string;
  /** Writes `line` plus a newline to stdin (requires `stdin: true`). */
  writeLine(line: string): void;
  /** Signals the child (or its group), escalating to SIGKILL after `graceMs`. */
  stop(options?: StopOptions): Promise<ExitStatus>;
}

const TAIL_LINES = 60;

/** Children still running, killed synchronously if the test process exits. */
const live = new Set<ManagedProcess>();
/** Pids spawned with `group: true`, whose whole group gets the signals. */
const groupLeaders = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous, so SIGKILL is the only option;
  // it stops a forgotten redis-server from outliving the test run.
  process.once('exit', () => {
    for (const p of live) signalProcess(p, 'SIGKILL');
  });
}

function signalProcess(p: ManagedProcess, signal: NodeJS.Signals): void {
  try {
    // A negative pid signals the whole process group.
    if (groupLeaders.has(p.pid)) process.kill(-p.pid, signal);
    else p.child.kill(signal);
  } catch {
    // Already gone (ESRCH): nothing to do.
  }
}

/**
 * Queue of lines read from a stream. `next()` hands them out in order and
 * rejects once the stream has ended with no line left, so a crashed child
 * turns into an error instead of a hang.
 */
export class LineReader {
  #queue: string[] = [];
  #waiters: Array<{ resolve: (line: string) => void; reject: (err: Error) => void }> = [];
  #ended = false;
  #label: string;

  /**
   * @param stream  readable to split into lines
   * @param label   names the stream in timeout and EOF errors
   * @param onLine  observer called for every line (e.g. to keep a tail)
   */
  constructor(stream: Readable, label: string, onLine?: (line: string) => void) {
    this.#label = label;
    const rl = createInterface({ input: stream, crlfDelay: Infinity });
    rl.on('line', (line) => {
      onLine?.(line);
      const waiter = this.#waiters.shift();
      if (waiter) waiter.resolve(line);
      else this.#queue.push(line);
    });
    rl.once('close', () => {
      this.#ended = true;
      const err = new Error(`${this.#label}: stream ended`);
      for (const w of this.#waiters.splice(0)) w.reject(err);
    });
  }

  /** Next unread line; rejects on end of stream or after `timeoutMs`. */
  next(timeoutMs = 10_000): Promise<string> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.#ended) return Promise.reject(new Error(`${this.#label}: stream ended`));
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (line: string) => {
          clearTimeout(timer);
          resolve(line);
        },
        reject: (err: Error) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        const index = this.#waiters.indexOf(waiter);
        if (index !== -1) this.#waiters.splice(index, 1);
        reject(new Error(`${this.#label}: no line within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Reads lines until one satisfies `match`, returning it. */
  async waitFor(match: (line: string) => boolean, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = await this.next(Math.max(1, deadline - Date.now()));
      if (match(line)) return line;
    }
  }
}

/**
 * Spawns `command` and resolves once it is running. Rejects with the
 * original spawn error (its `code` is 'ENOENT' when the binary is missing)
 * so callers can name the package to install.
 */
export async function spawnProcess(
  command: string,
  args: readonly string[],
  options: SpawnProcessOptions = {},
): Promise<ManagedProcess> {
  const name = options.name ?? command;
  const echo = options.echoStderr ?? process.env.OMNISERVE_TEST_VERBOSE === '1';
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    detached: options.group ?? false,
  });

  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  const pid = child.pid;
  if (pid === undefined || !child.stdout || !child.stderr) {
    throw new Error(`${name}: spawned without a pid or pipes`);
  }
  if (options.group) groupLeaders.add(pid);

  const tail: string[] = [];
  const remember = (line: string): void => {
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
  };

  let status: ExitStatus | undefined;
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('exit', (code, signal) => {
      status = { code, signal };
      live.delete(managed);
      groupLeaders.delete(pid);
      resolve(status);
    });
  });

  const stderrLines = createInterface({ input: child.stderr, crlfDelay: Infinity });
  stderrLines.on('line', (line) => {
    remember(line);
    if (echo) process.stderr.write(`[${name}] ${line}\n`);
  });

  const managed: ManagedProcess = {
    child,
    pid,
    name,
    exited,
    lines: new LineReader(child.stdout, `${name} stdout`, remember),
    hasExited: () => status !== undefined,
    outputTail: () => tail.join('\n'),
    writeLine(line: string) {
      if (!child.stdin) throw new Error(`${name}: spawned without stdin`);
      child.stdin.write(`${line}\n`);
    },
    async stop({ signal = 'SIGTERM', graceMs = 5_000 }: StopOptions = {}) {
      if (status) return status;
      signalProcess(managed, signal);
      const timer = setTimeout(() => signalProcess(managed, 'SIGKILL'), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
  // A child whose stdin the test forgot to close must not keep a closed
  // pipe error from crashing the test process.
  child.stdin?.on('error', () => {});

  live.add(managed);
  installExitHook();
  return managed;
}

/** Formats an exit status as "exit code 1" or "signal SIGKILL". */
export function describeExit(status: ExitStatus): string {
  return status.signal ? `signal ${status.signal}` : `exit code ${status.code}`;
}
