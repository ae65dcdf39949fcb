/**
 * How the long-running commands (serve, worker) end: on SIGTERM or SIGINT run the command's
 * own graceful stop, bounded by a deadline; exit 0 when it finished, 1 when it failed or
 * ran past the deadline.
 * @module
 */
import process from 'node:process';
import type { Writable } from 'node:stream';
import { messageOf } from '../../src/errors.ts';

/** Waits for a signal, then runs `stop`. Resolves with the exit code. */
export function untilSignal(o: {
  /** `omniserve serve`, `omniserve worker`: the prefix of the log lines. */
  readonly name: string;
  readonly stderr: Writable;
  readonly timeoutMs: number;
  /** Printed when the signal arrives, e.g. "draining". */
  readonly stopping: string;
  /** Printed when the deadline passes, after "stopping took over N ms, exiting". */
  readonly timeoutNote?: string;
  /** The graceful stop; returns the "stopped" line's detail, if any. */
  readonly stop: () => Promise<string | void>;
}): Promise<number> {
  return new Promise<number>((resolveExit) => {
    let stopping = false;
    const run = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      o.stderr.write(`${o.name}: ${signal}: ${o.stopping}\n`);
      const timer = setTimeout(() => {
        o.stderr.write(`${o.name}: stopping took over ${o.timeoutMs} ms, exiting${o.timeoutNote ? ` (${o.timeoutNote})` : ''}\n`);
        resolveExit(1);
      }, o.timeoutMs);
      try {
        const detail = await o.stop();
        clearTimeout(timer);
        o.stderr.write(`${o.name}: stopped${detail ? ` (${detail})` : ''}\n`);
        resolveExit(0);
      } catch (e) {
        clearTimeout(timer);
        o.stderr.write(`${o.name}: error while stopping: ${messageOf(e)}\n`);
        resolveExit(1);
      }
    };
    process.once('SIGTERM', () => void run('SIGTERM'));
    process.once('SIGINT', () => void run('SIGINT'));
  });
}
