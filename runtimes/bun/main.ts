/**
 * Bun entry point: `bun runtimes/bun/main.ts …`.
 * @module
 */
import { runCli } from '../cli/main.ts';
import { createNativeRuntime } from '../native/runtime.ts';
import { listenBun } from './listen.ts';
import { spawnSelf } from '../native/spawn-child.ts';

const code = await runCli(process.argv.slice(2), () => createNativeRuntime(), process, listenBun, spawnSelf(process.execPath, process.argv.slice(1)));
process.exit(code);
