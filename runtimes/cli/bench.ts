/**
 * `omniserve bench`: runs the benchmark suite (bench/suite/run.ts) on Node, which then starts
 * each scenario on the runtimes asked for. The suite lives in the repository's bench/ folder
 * with its dev dependencies (wrk, redis-server and Chromium from Debian, vega for charts):
 * run it from a clone after `bash scripts/setup.sh`.
 * @module
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import type { Writable } from 'node:stream';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SUITE = fileURLToPath(new URL('../../bench/suite/run.ts', import.meta.url));

/** Node to run the suite on: this process's own when it is Node, else `node` from PATH. */
const nodeBinary = () => (process.versions.bun || (globalThis as { Deno?: unknown }).Deno ? 'node' : process.execPath);

/** Runs the suite with `args`, its output on this process's stdout/stderr; resolves to its exit code. */
export async function benchCommand(args: readonly string[], io: { stderr: Writable }): Promise<number> {
  if (!existsSync(SUITE)) {
    io.stderr.write('omniserve bench: the benchmark suite (bench/suite/run.ts) is not here; it ships in the omniserve repository, run it from a clone\n');
    return 2;
  }
  return await new Promise<number>((resolve) => {
    const child = spawn(nodeBinary(), ['--import', 'tsx', SUITE, ...args], { cwd: ROOT, stdio: 'inherit' });
    child.on('error', (e) => {
      io.stderr.write(`omniserve bench: could not start Node for the suite: ${e.message}\n`);
      resolve(1);
    });
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}
