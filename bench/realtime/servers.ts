/**
 * Starts the servers bench/realtime loads, on a given host: the Hono hello-world baseline
 * (hello.ts), `omniserve serve --config F`, or the hand-written floor (floor.ts), on a free
 * loopback port. Each prints one
 * `{"event":"listening","url":…}` line; SIGTERM stops them.
 * @module
 */
import { freePort } from '../../test/support/free-port.ts';
import { join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { spawnProcess, type ManagedProcess } from '../../test/support/process.ts';

/** The hosts bench/realtime runs servers on. */
export const HOSTS = ['node', 'bun', 'deno'] as const;
export type Host = (typeof HOSTS)[number];

/** The repository root: every command runs from there, with relative paths. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const bin = (name: string) => join('node_modules', '.bin', name);

/** How each host runs a TypeScript file (`omniserve serve` on Node goes through bin/omniserve.mjs). */
const RUN_TS: Readonly<Record<Host, readonly string[]>> = {
  node: ['node', '--import', 'tsx'],
  bun: [bin('bun')],
  deno: [bin('deno'), 'run', '-A'],
};

/** The argv that runs TypeScript file `file` on `host` with `args`. */
export function tsArgv(host: Host, file: string, args: readonly string[] = []): string[] {
  return [...RUN_TS[host], file, ...args];
}

/** argv[0] as a path to spawn: Node children run on the very node running the benchmark, not whichever PATH finds. */
export const executable = (argv0: string) => (argv0 === 'node' ? process.execPath : join(ROOT, argv0));

/** What to start. */
export type ServerSpec = (
  | { readonly kind: 'hello'; readonly args?: readonly string[] }
  | { readonly kind: 'omniserve'; readonly config: string; readonly workers?: number }
  | { readonly kind: 'floor'; readonly redis: string }
) & {
  /** Extra flags for the runtime itself (e.g. `--cpu-prof` on Node and Bun, `--inspect=…` on Deno). */
  readonly hostFlags?: readonly string[];
};

/** The argv (relative to the repository root) that starts `spec` on `host`. */
export function serverArgv(host: Host, spec: ServerSpec, port = 0): string[] {
  const listen = ['--port', String(port), '--host', '127.0.0.1'];
  const flags = spec.hostFlags ?? [];
  // Deno takes its flags after the subcommand: `deno run --inspect=… -A file`.
  const at = host === 'deno' ? 2 : 1;
  const withFlags = (argv: string[]) => [...argv.slice(0, at), ...flags, ...argv.slice(at)];
  if (spec.kind === 'hello') return withFlags(tsArgv(host, join('bench', 'realtime', 'hello.ts'), [...listen, ...(spec.args ?? [])]));
  if (spec.kind === 'floor') return withFlags(tsArgv(host, join('bench', 'realtime', 'floor.ts'), [...listen, '--redis', spec.redis]));
  const serve = ['serve', '--config', spec.config, ...listen];
  if (host === 'node') return withFlags(['node', join('bin', 'omniserve.mjs'), ...serve]);
  return withFlags(tsArgv(host, join('runtimes', host, 'main.ts'), serve));
}

/** A listening server. */
export interface RunningServer {
  readonly url: string;
  readonly pid: number;
  readonly argv: readonly string[];
  readonly process: ManagedProcess;
  /** SIGTERM (drain), SIGKILL after 20 s. */
  stop(): Promise<void>;
}

/** Starts `spec` on `host` and waits (at most `timeoutMs`) for its listening line. */
export async function startServer(host: Host, spec: ServerSpec, timeoutMs = 60_000): Promise<RunningServer> {
  // Several serving processes share one port: it must be chosen up front, and every one of
  // them must be listening before the load starts.
  const workers = spec.kind === 'omniserve' ? spec.workers ?? 1 : 1;
  const argv = serverArgv(host, spec, workers > 1 ? await freePort() : 0);
  const proc = await spawnProcess(executable(argv[0]!), argv.slice(1), { cwd: ROOT, name: `${host}:${spec.kind}`, group: workers > 1 });
  let line = '';
  try {
    for (let i = 0; i < workers; i++) line = await proc.lines.waitFor((l) => l.includes('"listening"'), timeoutMs);
  } catch (e) {
    await proc.stop({ signal: 'SIGKILL' });
    throw new Error(`${argv.join(' ')} did not start: ${(e as Error).message}\n${proc.outputTail()}`);
  }
  const { url } = JSON.parse(line) as { url: string };
  return {
    url, pid: proc.pid, argv, process: proc,
    async stop() {
      await proc.stop({ signal: 'SIGTERM', graceMs: 20_000 });
    },
  };
}
