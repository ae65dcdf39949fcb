/**
 * Node entry point: `node bin/omniserve.mjs …` (which loads this through tsx).
 * @module
 */
import { runCli } from '../cli/main.ts';
import { createNativeRuntime } from '../native/runtime.ts';
import { listenNode } from './listen.ts';

const code = await runCli(process.argv.slice(2), () => createNativeRuntime(), process, listenNode);
process.exitCode = code;
