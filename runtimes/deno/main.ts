/**
 * Deno entry point: `deno run -A runtimes/deno/main.ts …`.
 * @module
 */
import process from 'node:process';
import { runCli } from '../cli/main.ts';
import { createNativeRuntime } from '../native/runtime.ts';
import { listenDeno } from './listen.ts';

const code = await runCli(process.argv.slice(2), () => createNativeRuntime(), process, listenDeno);
process.exit(code);
