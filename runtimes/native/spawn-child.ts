/**
 * Serving processes for Bun and Deno: the same command line again, listening with
 * SO_REUSEPORT so the kernel spreads connections over them.
 * @module
 */
import { spawn } from 'node:child_process';
import process from 'node:process';
import type { SpawnChild } from '../serve/supervisor.ts';

/** Returns a SpawnChild that runs `command args…` with OMNISERVE_WORKER_INDEX set. */
export function spawnSelf(command: string, args: readonly string[]): SpawnChild {
  return (index) => {
    const child = spawn(command, [...args], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, OMNISERVE_WORKER_INDEX: String(index) },
    });
    return {
      pid: child.pid,
      kill: (signal) => child.kill(signal),
      exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code ?? 1))),
    };
  };
}
