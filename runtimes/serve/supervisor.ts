/**
 * Multi-core serving: a supervisor process starts N serving processes that share one port
 * (Node: the cluster module; Bun and Deno: SO_REUSEPORT), forwards SIGTERM/SIGINT to them,
 * and replaces a process that dies, with backoff so a crash loop does not spin.
 * @module
 */
import process from 'node:process';
import type { Writable } from 'node:stream';

/** A started serving process, as the supervisor sees it. */
export interface ChildHandle {
  readonly pid: number | undefined;
  kill(signal: NodeJS.Signals): void;
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
}

/** Starts one serving process; `index` goes to the child as OMNISERVE_WORKER_INDEX. */
export type SpawnChild = (index: number) => ChildHandle;

/** True in a process the supervisor started. */
export const isSupervisedChild = () => process.env['OMNISERVE_WORKER_INDEX'] !== undefined;

/** Runs `n` children until a signal; returns the exit code. */
export async function supervise(n: number, spawn: SpawnChild, io: { stderr: Writable }): Promise<number> {
  let stopping = false;
  const children = new Map<number, ChildHandle>();
  const recentCrashes: number[] = [];
  const start = (i: number) => {
    const child = spawn(i);
    children.set(i, child);
    void child.exited.then(async (code) => {
      if (children.get(i) === child) children.delete(i);
      if (stopping) return;
      const now = Date.now();
      recentCrashes.push(now);
      while (recentCrashes.length && recentCrashes[0]! < now - 60_000) recentCrashes.shift();
      io.stderr.write(`omniserve serve: worker ${i} (pid ${child.pid}) exited with ${code}; restarting\n`);
      // More than 2n crashes in a minute is a crash loop: wait before trying again.
      if (recentCrashes.length > 2 * n) await new Promise((r) => setTimeout(r, 5_000));
      if (!stopping) start(i);
    });
  };
  for (let i = 0; i < n; i++) start(i);
  io.stderr.write(`omniserve serve: supervising ${n} serving processes\n`);
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      for (const c of children.values()) c.kill(signal);
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  const codes = await Promise.all([...children.values()].map((c) => c.exited));
  return codes.every((c) => c === 0) ? 0 : 1;
}
