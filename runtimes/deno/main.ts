/**
 * Deno entry point: `deno run -A runtimes/deno/main.ts …`.
 * @module
 */
import process from 'node:process';
import { runCli } from '../cli/main.ts';
import { createNativeRuntime } from '../native/runtime.ts';
import { listenDeno } from './listen.ts';
import { spawnSelf } from '../native/spawn-child.ts';

const code = await runCli(process.argv.slice(2), () => createNativeRuntime(), process, listenDeno,
  spawnSelf(Deno.execPath(), ['run', '-A', '--unstable-net', new URL(Deno.mainModule).pathname, ...process.argv.slice(2)]));
process.exit(code);
